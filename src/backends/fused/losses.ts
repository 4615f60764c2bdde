import * as tf from '@tensorflow/tfjs';
import type { Reduction } from '../../core/options.ts';
import { maskDenominator } from '../../core/reduction.ts';
import { isPlainObject, type Options, weightFits } from '../../core/validate.ts';
import { PIXEL_LOSS_SUM } from './pixel-loss.ts';
import type { FusedLoss } from './pixel-loss-loops.ts';
import { hasFusedKernel, runFused } from './runtime.ts';
import { SOBEL_L1_SUM } from './sobel-loss.ts';

// The losses' side of the fused kernels: each fused loss checks that its kernel applies (returning
// null, computing nothing, where it does not), runs the sum kernel and builds MMagic's reduction
// from the sum; `withFusedKernel` is how a loss takes that path and falls back to its op chain.

/** Options of {@link fusedPixelLoss}: those of `maskReduceLoss`, plus Charbonnier's `eps`. */
export interface FusedPixelLossOptions {
  weight?: tf.Tensor | null;
  reduction?: Reduction;
  sample_wise?: boolean;
  /** Charbonnier's ε (default 1e-12); ignored by L1 and MSE. */
  eps?: number;
}

/** Options of {@link fusedGradientLoss}: those of `gradientLoss`. */
export interface FusedGradientLossOptions {
  weight?: tf.Tensor | null;
  reduction?: Reduction;
}

/** Inputs a fused loss accepted: the weight (null: none) and a reduction its kernel computes. */
interface Accepted {
  weight: tf.Tensor | null;
  reduction: 'mean' | 'sum';
}

function isFloatTensor(t: unknown): t is tf.Tensor {
  return t instanceof tf.Tensor && t.dtype === 'float32' && !t.isDisposed && t.size > 0;
}

/**
 * What the fused path needs, or null where it does not apply: options that are not a plain
 * object, reduction `'none'` (or an invalid one), a backend without the kernel `kernel`, pred or
 * target not a valid float32 tensor of an accepted rank, shapes that differ, or a weight that is
 * not a valid float32 tensor fitting pred. The op chain reports each of these that is an error.
 */
function accept(
  kernel: string,
  pred: tf.Tensor,
  target: tf.Tensor,
  options: unknown,
  rankFits: (rank: number) => boolean,
): Accepted | null {
  if (!isPlainObject(options)) return null;
  const { weight = null, reduction = 'mean' } = options as FusedGradientLossOptions;
  if (reduction !== 'mean' && reduction !== 'sum') return null;
  if (!hasFusedKernel(kernel)) return null;
  if (!isFloatTensor(pred) || !isFloatTensor(target) || !rankFits(pred.rank)) return null;
  if (!tf.util.arraysEqual(pred.shape, target.shape)) return null;
  if (weight === null || weight === undefined) return { weight: null, reduction };
  if (!isFloatTensor(weight) || !weightFits(weight, pred)) return null;
  return { weight, reduction };
}

/**
 * MMagic's reduction of a sum kernel's output: the sum, the mean over pred's elements, the masked
 * mean (sum / (C′·Σw + ε)), or for `perSample` sums the mean over samples of each one's masked mean.
 */
function reduce(sums: tf.Tensor, pred: tf.Tensor, a: Accepted, perSample = false): tf.Tensor {
  if (a.reduction === 'sum') return sums;
  if (a.weight === null) return tf.div(sums, pred.size);
  return perSample
    ? tf.mean(tf.div(sums, maskDenominator(a.weight, pred, true)))
    : tf.div(sums, maskDenominator(a.weight, pred, false));
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
  const accepted = accept(PIXEL_LOSS_SUM, pred, target, options, (rank) => rank > 0);
  if (accepted === null) return null;
  const { sample_wise = false, eps = 1e-12 } = options;
  return tf.tidy(() => {
    const perSample = accepted.weight !== null && accepted.reduction === 'mean' && sample_wise;
    const sums = runFused(PIXEL_LOSS_SUM, [pred, target, accepted.weight], {
      loss,
      eps,
      perSample,
    });
    return reduce(sums, pred, accepted, perSample);
  });
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
  const accepted = accept(SOBEL_L1_SUM, pred, target, options, (rank) => rank === 4);
  if (accepted === null) return null;
  return tf.tidy(() =>
    reduce(runFused(SOBEL_L1_SUM, [pred, target, accepted.weight]), pred, accepted),
  );
}

/** The options of each loss {@link withFusedKernel} can fuse, by the name it takes. */
export interface FusedLossOptions {
  l1: FusedPixelLossOptions;
  mse: FusedPixelLossOptions;
  charbonnier: FusedPixelLossOptions;
  /** The Sobel gradient loss, `gradientLoss`. */
  gradient: FusedGradientLossOptions;
}

/** A loss {@link withFusedKernel} can fuse: an element-wise one, or `'gradient'` (Sobel L1). */
export type FusedLossName = keyof FusedLossOptions;

type FusedFn = (pred: tf.Tensor, target: tf.Tensor, options?: object) => tf.Tensor | null;

const FUSED: Record<FusedLossName, FusedFn> = {
  l1: (pred, target, options) => fusedPixelLoss('l1', pred, target, options),
  mse: (pred, target, options) => fusedPixelLoss('mse', pred, target, options),
  charbonnier: (pred, target, options) => fusedPixelLoss('charbonnier', pred, target, options),
  gradient: fusedGradientLoss,
};

/** A loss function `(pred, target, options?, …) → tensor` that takes the options of `K`. */
type LossFn<K extends FusedLossName> = (
  pred: tf.Tensor,
  target: tf.Tensor,
  options?: Options<FusedLossOptions[K]>,
) => tf.Tensor;

/**
 * The one way a loss uses a fused kernel: wraps its op chain `fallback` so that it runs in the
 * fused kernels of `loss` ({@link fusedPixelLoss}, {@link fusedGradientLoss}) where they apply
 * and as `fallback`, with all its arguments, everywhere else, which is also where invalid input
 * meets the op chain's checks and errors. Same value and gradients either way, to float32
 * rounding.
 *
 * @example `export const l1Loss = withFusedKernel('l1', maskedLoss((p, t) => tf.abs(tf.sub(p, t))))`
 */
export function withFusedKernel<K extends FusedLossName, F extends LossFn<K>>(
  loss: K,
  fallback: F,
): F {
  const fused = FUSED[loss];
  const chain = fallback as unknown as (...args: unknown[]) => tf.Tensor;
  return ((pred: tf.Tensor, target: tf.Tensor, options?: object, ...rest: unknown[]) =>
    fused(pred, target, options) ?? chain(pred, target, options, ...rest)) as F;
}
