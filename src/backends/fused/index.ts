import * as tf from '@tensorflow/tfjs';
import type { Reduction } from '../../core/options.ts';
import { maskDenominator } from '../../core/reduction.ts';
import { isPlainObject, type Options, weightFits } from '../../core/validate.ts';
import {
  type FusedLoss,
  PIXEL_LOSS_GRADIENTS,
  PIXEL_LOSS_KERNELS,
  PIXEL_LOSS_SUM,
  runFused,
} from './pixel-loss.ts';
import { SOBEL_GRADIENTS, SOBEL_KERNELS, SOBEL_L1_SUM } from './sobel-loss.ts';

export type { FusedLoss } from './pixel-loss.ts';
export { PIXEL_LOSS_GRAD, PIXEL_LOSS_SUM } from './pixel-loss.ts';
export { SOBEL_L1_GRAD, SOBEL_L1_SUM } from './sobel-loss.ts';

/**
 * Registers the fused loss kernels (for `cpu` and `wasm`) and their gradients. Idempotent.
 * Other backends have no fused kernel, and {@link fusedPixelLoss} and {@link fusedGradientLoss}
 * return null there.
 */
export function registerFusedKernels(): void {
  for (const config of [...PIXEL_LOSS_KERNELS, ...SOBEL_KERNELS]) {
    if (tf.getKernel(config.kernelName, config.backendName) === undefined) {
      tf.registerKernel(config);
    }
  }
  for (const config of [...PIXEL_LOSS_GRADIENTS, ...SOBEL_GRADIENTS]) {
    if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
  }
}

/** Options of {@link fusedPixelLoss}: those of `maskReduceLoss`, plus Charbonnier's `eps`. */
export interface FusedPixelLossOptions {
  weight?: tf.Tensor | null;
  reduction?: Reduction;
  sample_wise?: boolean;
  /** Charbonnier's ε (default 1e-12); ignored by L1 and MSE. */
  eps?: number;
}

function isFloatTensor(t: unknown): t is tf.Tensor {
  return t instanceof tf.Tensor && t.dtype === 'float32' && !t.isDisposed && t.size > 0;
}

/**
 * A masked element-wise loss in fused kernels: the value of
 * `maskReduceLoss(f(pred − target), {weight, reduction, sample_wise})` for `f` = `|d|` (`'l1'`),
 * `d²` (`'mse'`) or `sqrt(d² + eps)` (`'charbonnier'`), reading pred, target and weight once for
 * the value and once for each gradient, with gradients of every order.
 *
 * Returns null, computing nothing, where the fused path does not apply: reduction `'none'`, the
 * current backend has no fused kernel (only `cpu` and `wasm` do), or any input is not a valid
 * float32 tensor of matching shape; then use the op chain, which also reports invalid input.
 */
export function fusedPixelLoss(
  loss: FusedLoss,
  pred: tf.Tensor,
  target: tf.Tensor,
  options: Options<FusedPixelLossOptions> = {},
): tf.Tensor | null {
  if (!isPlainObject(options as unknown)) return null;
  let { weight = null } = options;
  const { reduction = 'mean', sample_wise = false, eps = 1e-12 } = options;
  if (reduction !== 'mean' && reduction !== 'sum') return null;
  if (tf.getKernel(PIXEL_LOSS_SUM, tf.getBackend()) === undefined) return null;
  if (!isFloatTensor(pred) || !isFloatTensor(target) || pred.rank === 0) return null;
  if (!tf.util.arraysEqual(pred.shape, target.shape)) return null;
  if (weight !== null && weight !== undefined) {
    if (!isFloatTensor(weight) || !weightFits(weight, pred)) return null;
  } else {
    weight = null;
  }
  return tf.tidy(() => {
    const perSample = weight !== null && reduction === 'mean' && sample_wise;
    const sums = runFused(PIXEL_LOSS_SUM, [pred, target, weight], { loss, eps, perSample });
    if (reduction === 'sum') return sums;
    if (weight === null) return tf.div(sums, pred.size);
    return perSample
      ? tf.mean(tf.div(sums, maskDenominator(weight, pred, true)))
      : tf.div(sums, maskDenominator(weight, pred, false));
  });
}

/** A masked loss function as `maskedLoss` makes them (src/core/reduction.ts). */
type MaskedFn = (
  pred: tf.Tensor,
  target: tf.Tensor,
  options?: Options<FusedPixelLossOptions>,
) => tf.Tensor;

/**
 * Wraps a masked loss so that it runs in fused kernels where {@link fusedPixelLoss} applies and
 * as `fallback` (the op chain, with its input checks and errors) everywhere else. Same value and
 * gradients either way, to float32 rounding.
 *
 * @example `export const l1Loss = withFusedKernel('l1', maskedLoss((p, t) => tf.abs(tf.sub(p, t))))`
 */
export function withFusedKernel<F extends MaskedFn>(loss: FusedLoss, fallback: F): F {
  const fused = ((pred, target, options) =>
    fusedPixelLoss(loss, pred, target, options) ?? fallback(pred, target, options)) as F;
  return fused;
}

/** Options of {@link fusedGradientLoss}: those of `gradientLoss`. */
export interface FusedGradientLossOptions {
  weight?: tf.Tensor | null;
  reduction?: Reduction;
}

/**
 * The Sobel gradient loss in fused kernels: the value of MMagic's `GradientLoss` without its
 * weight, `maskReduce(|kx∗(pred − target)|, weight) + maskReduce(|ky∗(pred − target)|, weight)`
 * (Sobel per channel, zero padding 1), with gradients of every order. Returns null where the
 * fused path does not apply (reduction `'none'`, a backend without the kernel, inputs that are
 * not N×H×W×C float32 of one shape, a weight that is not N×H×W×1 or N×H×W×C).
 */
export function fusedGradientLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: Options<FusedGradientLossOptions> = {},
): tf.Tensor | null {
  if (!isPlainObject(options as unknown)) return null;
  let { weight = null } = options;
  const { reduction = 'mean' } = options;
  if (reduction !== 'mean' && reduction !== 'sum') return null;
  if (tf.getKernel(SOBEL_L1_SUM, tf.getBackend()) === undefined) return null;
  if (!isFloatTensor(pred) || !isFloatTensor(target) || pred.rank !== 4) return null;
  if (!tf.util.arraysEqual(pred.shape, target.shape)) return null;
  if (weight !== null && weight !== undefined) {
    if (!isFloatTensor(weight) || !weightFits(weight, pred)) return null;
  } else {
    weight = null;
  }
  return tf.tidy(() => {
    const sum = runFused(SOBEL_L1_SUM, [pred, target, weight], {});
    if (reduction === 'sum') return sum;
    if (weight === null) return tf.div(sum, pred.size);
    return tf.div(sum, maskDenominator(weight, pred, false));
  });
}
