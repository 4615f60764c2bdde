/**
 * genloss: MMagic's loss system for generative image models, on TensorFlow.js. Browser-safe
 * entry point (no Node built-ins); `genloss/node` adds file loading.
 */
import { registerGradients } from './autodiff/index.ts';

registerGradients();

export { registerGradients } from './autodiff/index.ts';
export { BACKEND_ENV, BACKEND_PREFERENCE, chooseBackend } from './core/backend.ts';
export { type ConfigFormat, formatOf, parseConfig } from './core/config.ts';
export {
  ConfigError,
  DataInfoError,
  GenlossError,
  ShapeError,
  WeightsError,
} from './core/errors.ts';
export { type LossClass, LossModule } from './core/module.ts';
export {
  describeOptions,
  lossOptions,
  type OptionInfo,
  type OptionsSchema,
  parseOptions,
  REDUCTIONS,
  type Reduction,
  reductionOption,
} from './core/options.ts';
export {
  type ElementwiseFn,
  MASK_EPS,
  type MaskedLossFn,
  type MaskReduceOptions,
  maskedLoss,
  maskReduceLoss,
  reduceLoss,
} from './core/reduction.ts';
export {
  type BuildConfig,
  type Built,
  LOSSES,
  type LossTypeMap,
  Registry,
  type RegistryEntry,
} from './core/registry.ts';
export {
  CharbonnierCompLoss,
  CompositionLoss,
  composite,
  L1CompositionLoss,
  MSECompositionLoss,
} from './losses/composition.ts';
export { GradientLoss, type GradientLossOptions, gradientLoss } from './losses/gradient.ts';
export {
  CharbonnierLoss,
  charbonnierLoss,
  charbonnierOptions,
  L1Loss,
  l1Loss,
  MaskedPixelLoss,
  MaskedTVLoss,
  MSELoss,
  mseLoss,
  PixelwiseLoss,
  type PixelwiseOptions,
  PSNRLoss,
  pixelwiseOptions,
  tvLoss,
} from './losses/pixelwise.ts';
export { sobel } from './ops/sobel.ts';
