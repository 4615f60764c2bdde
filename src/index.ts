/**
 * genloss: MMagic's loss system for generative image models, on TensorFlow.js. Browser-safe
 * entry point (no Node built-ins); `genloss/node` adds file loading.
 */
import { startBackend } from './core/backend.ts';
import './register.ts';

// Gradients, kernels and losses are registered on import (src/register.ts); then the backend
// starts in the background (`await ready()`).
startBackend();

/** zod, as genloss uses it for option schemas (so a user's loss needs no separate install). */
export { z } from 'zod';

export {
  checkSecondOrder,
  freeTapeOnError,
  PATCHED_GRADIENTS,
  registerGradients,
  type SecondOrderCheckOptions,
  type SecondOrderReport,
  safeGrad,
  safeGrads,
  safeVariableGrads,
  stopGradient,
} from './autodiff/index.ts';
export {
  type FusedGradientLossOptions,
  type FusedLoss,
  type FusedPixelLossOptions,
  fusedGradientLoss,
  fusedPixelLoss,
  registerFusedKernels,
  registerWasmKernels,
  WASM_KERNELS,
  withFusedKernel,
} from './backends/index.ts';
export type { BuiltinLossTypes } from './catalogue.ts';
export {
  componentOptions,
  dataInfoOption,
  intervalOption,
  LossComponent,
} from './components/base.ts';
export {
  CLIP_LOSS_COMPS_NAME,
  CLIPLossComps,
  type CLIPLossCompsOptions,
} from './components/clip.ts';
export {
  DiscShiftLossComps,
  GradientPenaltyLossComps,
  R1GradientPenaltyComps,
  R2GradientPenaltyComps,
} from './components/disc-auxiliary.ts';
export {
  FaceIdLossComps,
  type FaceIdLossCompsOptions,
  type FaceNetwork,
} from './components/face-id.ts';
export { GeneratorPathRegularizerComps } from './components/gen-auxiliary.ts';
export {
  BACKEND_ENV,
  BACKEND_PREFERENCE,
  chooseBackend,
  ensureBackend,
  ready,
} from './core/backend.ts';
export { type ConfigFormat, formatOf, parseConfig } from './core/config.ts';
export {
  type DataInfo,
  type OutputsDict,
  outputAt,
  outputsOf,
  resolveDataInfo,
} from './core/data-info.ts';
export {
  CheckpointError,
  ConfigError,
  DataError,
  DataInfoError,
  GenlossError,
  NonFiniteLossError,
  ResourceLimitError,
  RunDirError,
  ShapeError,
  WeightsError,
} from './core/errors.ts';
export { checkInputRange, type InputRange, inputRangeOption } from './core/input-range.ts';
export { type LossClass, LossModule } from './core/module.ts';
export {
  describeOptions,
  falseOnlyOption,
  lossOptions,
  type OptionInfo,
  type OptionsSchema,
  parseOptions,
  REDUCTIONS,
  type Reduction,
  reductionOption,
} from './core/options.ts';
export { DEFAULT_SEED, defaultGenerator, manualSeed, SeedGenerator } from './core/random.ts';
export {
  type ElementwiseFn,
  MASK_EPS,
  type MaskedLossFn,
  type MaskReduceOptions,
  maskDenominator,
  maskedLoss,
  maskReduceLoss,
  reduceLoss,
  type WeightedLossFn,
  type WeightedLossOptions,
  weightedLoss,
} from './core/reduction.ts';
export {
  type BuildConfig,
  type Built,
  LOSSES,
  type LossTypeMap,
  Registry,
  type RegistryEntry,
} from './core/registry.ts';
export { sobel } from './core/sobel.ts';
export {
  type DecodedTensor,
  halfToFloat,
  parseSafetensors,
  SAFETENSORS_DTYPES,
  SAFETENSORS_MAX_HEADER,
  type SafetensorsDtype,
  type SafetensorsEntry,
  SafetensorsFile,
} from './io/safetensors.ts';
export { type TensorSource, tensorMapSource } from './io/tensor-source.ts';
export { type ManifestGroup, type ManifestWeight, TfjsWeights } from './io/tfjs-weights.ts';
export {
  ADV_LOSS_TYPES,
  ADV_POOL_SIZE,
  AdvLoss,
  type AdvLossType,
  PredictionPool,
} from './losses/adv.ts';
export {
  BASICSR_GAN_TYPES,
  BASICSR_REDUCTIONS,
  type BasicsrReduction,
  type DiscriminatorOutput,
  GAN_FEAT_CRITERIA,
  GANFeatLoss,
  type GanFeatCriterion,
  type GanFeatLossOptions,
  ganFeatLoss,
  ganFeatOptions,
  MultiScaleGANLoss,
  type MultiScalePredictions,
  WeightedTVLoss,
  type WeightedTvLossOptions,
  weightedTvLoss,
  weightedTvOptions,
} from './losses/basicsr.ts';
export { type CLIPLogitsFn, CLIPLoss, type CLIPLossOptions, clipPool } from './losses/clip.ts';
export {
  CharbonnierCompLoss,
  CompositionLoss,
  composite,
  L1CompositionLoss,
  MSECompositionLoss,
} from './losses/composition.ts';
export {
  dlibInput,
  type FaceEmbeddingFn,
  FaceIdLoss,
  type FaceIdLossOptions,
  faceIdDistance,
} from './losses/face-id.ts';
export {
  type FocalFrequencyArgs,
  FocalFrequencyLoss,
  focalFrequencyLoss,
  focalFrequencyOptions,
  focalFrequencySpectrum,
} from './losses/focal-frequency.ts';
export {
  bceWithLogits,
  checkGanType,
  GAN_LOSS_COMPS_TYPES,
  GAN_LOSS_TYPES,
  GAN_TYPES,
  GANLoss,
  GANLossBase,
  GANLossComps,
  type GanLossOptions,
  type GanType,
  ganLoss,
  ganOptions,
} from './losses/gan.ts';
export { GradientLoss, type GradientLossOptions, gradientLoss } from './losses/gradient.ts';
export {
  DISTS,
  type DISTSNetwork,
  type DISTSOptions,
  dists,
  LearnedVGG16Loss,
  LPIPS,
  LPIPS_SCALE,
  LPIPS_SHIFT,
  type LPIPSNetwork,
  type LPIPSOptions,
  type LpipsOptions,
  lpips,
  VGG16_TAPS,
  type VGG16TapsFn,
  type WeightsInput,
} from './losses/learned-perceptual.ts';
export {
  type ImageFeatureFn,
  LightCNNFeatureLoss,
  type LightCNNFeatureLossOptions,
} from './losses/lightcnn.ts';
export {
  GenPathRegularizer,
  type GenPathRegularizerOptions,
  genPathRegularizer,
  type PathGenerator,
  type PathRegularizerDraws,
  type PathRegularizerResult,
  pathBatchSize,
} from './losses/path-regularizer.ts';
export {
  checkFunction,
  checkLossScaler,
  type Discriminator,
  DiscShiftLoss,
  discShiftLoss,
  type GradientPenaltyDraws,
  GradientPenaltyLoss,
  type GradientPenaltyOptions,
  gradientPenaltyLoss,
  inputGradient,
  type LossScaler,
  NORM_MODES,
  type NormMode,
  normModeOption,
  oneSidedOption,
  type R1GradientPenaltyOptions,
  r1GradientPenaltyLoss,
  r2GradientPenaltyLoss,
  targetOption,
} from './losses/penalties.ts';
export {
  FEATURE_CRITERIA,
  type FeatureCriterion,
  type FeatureFn,
  featureDistance,
  gramMatrix,
  IMAGENET_MEAN,
  IMAGENET_STD,
  PERCEPTUAL_CRITERIA,
  type PerceptualCriterion,
  PerceptualLoss,
  type PerceptualLossOptions,
  weightedFeatureDistance,
} from './losses/perceptual.ts';
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
export {
  isRelativisticGanLoss,
  RELATIVISTIC_GAN_TYPES,
  RELATIVISTIC_MODES,
  RelativisticGANLoss,
  type RelativisticGanLossModule,
  type RelativisticGanLossOptions,
  type RelativisticGanType,
  type RelativisticMode,
  relativisticGanLoss,
  relativisticTerm,
  relativisticTerms,
} from './losses/relativistic.ts';
export {
  CauchyLoss,
  cauchyLoss,
  GemanMcClureLoss,
  GeneralRobustLoss,
  gemanMcClureLoss,
  generalRobustLoss,
  generalRobustOptions,
  HuberLoss,
  huberLoss,
  huberOptions,
  RobustLoss,
  type RobustOptions,
  robustOptions,
  SmoothL1Loss,
  smoothL1Loss,
  smoothL1Options,
  WelschLoss,
  welschLoss,
} from './losses/robust.ts';
export {
  MS_SSIM_SCALE_WEIGHTS,
  MultiScaleSSIMLoss,
  type MultiScaleSsimOptions,
  multiScaleSsim,
  multiScaleSsimLossOptions,
  SSIMLoss,
  type SsimOptions,
  ssim,
  ssimLossOptions,
} from './losses/ssim.ts';
export {
  TransferalPerceptualLoss,
  type TransferalPerceptualLossOptions,
} from './losses/transferal.ts';
export {
  type ConvertTo,
  checkImage255,
  type ImageTransformOptions,
  imageTransform,
} from './metrics/images.ts';
export {
  ConnectivityError,
  type ConnectivityErrorOptions,
  connectivityError,
  GradientError,
  type GradientErrorOptions,
  gradientError,
  type MattingMap,
  type MattingMetrics,
  type MattingMetricsOptions,
  MattingMSE,
  type MattingSample,
  type MattingShapeOption,
  mattingMetricConfigSchemas,
  mattingMetrics,
  mattingMse,
  SAD,
  type SadOptions,
  sad,
} from './metrics/matting.ts';
export { psnr } from './metrics/psnr.ts';
export {
  buildMetric,
  type MetricConfig,
  type MetricTypeMap,
  metricConfigSchema,
  PSNR,
  SSIM,
} from './metrics/registry.ts';
export { ssimMetric } from './metrics/ssim.ts';
export {
  laplacianPyramid,
  SlicedWassersteinDistance,
  type SwdOptions,
  type SwdRandomSource,
  type SwdResult,
  seededSwdSource,
  slicedWassersteinDistance,
  swdResolutions,
} from './metrics/swd.ts';
export { blurSigma, discriminatorBlur } from './models/disc-blur.ts';
export {
  type GANModelConfig,
  GANWithCustomizedLoss,
  ganModelOptions,
  type LogVars,
  styleGAN2LossConfig,
  type TrainData,
} from './models/gan-with-customized-loss.ts';
export {
  type DiscriminatorNet,
  discriminatorFromLayers,
  type GeneratorNet,
  generatorFromLayers,
  toDiscriminator,
  toGenerator,
} from './models/net-adapters.ts';
export {
  buildOptimizer,
  OPTIMIZER_TYPES,
  type OptimizerConfig,
  optimizerOptions,
} from './models/optimizers.ts';
export { type LossDict, type ParsedLosses, parseLosses } from './models/parse-losses.ts';
export { type Snapshot, takeSnapshot } from './models/snapshot.ts';
export { ArcFaceIRSE, arcFaceCrop } from './nets/arcface.ts';
export { type CLIPLoadOptions, CLIPModel, clipTokenize } from './nets/clip.ts';
export {
  DLIB_FACE_MEAN_RGB,
  DLIB_FACE_SIZE,
  DlibFaceRecognitionNet,
} from './nets/face-recognition.ts';
export { l2Normalize } from './nets/layers.ts';
export { LIGHTCNN_LAYERS, LightCNNFeatures, maxFeatureMap } from './nets/lightcnn.ts';
export {
  l2Pool2d,
  VGGFeatures,
  type VGGLayer,
  type VGGLoadOptions,
  type VGGType,
  vggIndex,
  vggLayers,
} from './nets/vgg.ts';
export { LoadedNet, WeightReader } from './nets/weights.ts';
export {
  checkBlurOptions,
  GaussianBlur,
  type GaussianBlurOptions,
  gaussianBlur,
  gaussianKernel1d,
  gaussianKernel2d,
  type Pair,
} from './ops/gaussian-blur.ts';
export {
  adaptiveAvgPool2d,
  avgPool2d,
  maxPool2d,
  poolOutputSize,
} from './ops/pooling.ts';
export {
  adaptiveAvgResample,
  avgPoolResample,
  bicubicResample,
  composeResample,
  nearestResample,
  type Resample1d,
  resampleSeparable,
  resizeBicubic,
  resizeNearest,
} from './ops/resize.ts';
