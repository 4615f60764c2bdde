import * as tf from '@tensorflow/tfjs';
import {
  absGradConfig,
  eluGradConfig,
  expGradConfig,
  powGradConfig,
  seluGradConfig,
  sigmoidGradConfig,
  softmaxGradConfig,
  tanhGradConfig,
} from './gradients/activations.ts';
import {
  conv2DBackpropFilterGradConfig,
  depthwiseBackpropFilterGradConfig,
  depthwiseBackpropInputGradConfig,
} from './gradients/conv.ts';
import { avgPoolGradConfig, maxPoolGradConfig } from './gradients/pool.ts';
import { resizeBilinearGradConfig, resizeNearestNeighborGradConfig } from './gradients/resize.ts';
import { stridedSliceGradConfig, tileGradConfig } from './gradients/slicing.ts';
import { zeroGradConfigs } from './gradients/zero.ts';

export type { SecondOrderCheckOptions, SecondOrderReport } from './check-second-order.ts';
export { checkSecondOrder } from './check-second-order.ts';
export { freeTapeOnError, safeGrad, safeGrads, safeVariableGrads } from './safe-gradients.ts';
export { stopGradient } from './stop-gradient.ts';

/**
 * The gradients genloss registers: each replaces a TF.js gradient that is missing, wrong, or
 * not itself differentiable (docs/second-order.md has the table). Kernels whose TF.js gradient
 * is right at every order once the kernels it calls have gradients (Conv2D, Conv2DBackpropInput,
 * DepthwiseConv2dNative, LeakyRelu, Prelu, Relu6, Maximum, Minimum, ClipByValue, Max,
 * FusedBatchNorm, …) keep it.
 */
export const PATCHED_GRADIENTS: readonly tf.GradConfig[] = [
  absGradConfig,
  sigmoidGradConfig,
  tanhGradConfig,
  expGradConfig,
  eluGradConfig,
  seluGradConfig,
  softmaxGradConfig,
  powGradConfig,
  conv2DBackpropFilterGradConfig,
  depthwiseBackpropInputGradConfig,
  depthwiseBackpropFilterGradConfig,
  avgPoolGradConfig,
  maxPoolGradConfig,
  resizeBilinearGradConfig,
  resizeNearestNeighborGradConfig,
  stridedSliceGradConfig,
  tileGradConfig,
  ...zeroGradConfigs,
];

/**
 * Registers {@link PATCHED_GRADIENTS} with TF.js's global gradient registry, so that gradients of
 * gradients (gradient penalty, R1, path length) are correct for any TF.js model on every
 * backend. Called once when genloss is imported. Idempotent, and silent: TF.js prints an
 * "Overriding the gradient" warning per kernel in debug mode, which is muted while we register.
 */
export function registerGradients(): void {
  if (PATCHED_GRADIENTS.every((config) => tf.getGradient(config.kernelName) === config)) return;
  const env = tf.env();
  const wasTest = env.getBool('IS_TEST');
  env.set('IS_TEST', true);
  try {
    for (const config of PATCHED_GRADIENTS) tf.registerGradient(config);
  } finally {
    env.set('IS_TEST', wasTest);
  }
}
