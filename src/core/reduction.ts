import * as tf from '@tensorflow/tfjs';
import { ConfigError } from './errors.ts';
import { checkChoice, REDUCTIONS, type Reduction } from './options.ts';
import {
  checkOptions,
  checkSameShape,
  checkTensor,
  checkWeight,
  type Options,
} from './validate.ts';

/** The ε in the masked-mean denominator, as MMagic. */
export const MASK_EPS = 1e-12;

const checkReduction = (owner: string, reduction: unknown): Reduction =>
  checkChoice(owner, 'reduction', reduction, REDUCTIONS);

/**
 * Reduces a loss tensor (MMagic `reduce_loss`): `'none'` returns `loss` itself, `'mean'` the mean
 * over all elements, `'sum'` the sum. Shapes: any → scalar (or unchanged for `'none'`).
 */
export function reduceLoss(loss: tf.Tensor, reduction: Reduction): tf.Tensor {
  checkTensor('reduceLoss', 'loss', loss);
  switch (checkReduction('reduceLoss', reduction)) {
    case 'none':
      return loss;
    case 'mean':
      return tf.mean(loss);
    case 'sum':
      return tf.sum(loss);
  }
}

/** How a masked loss weights and reduces: MMagic's keyword arguments of `masked_loss`. */
export interface MaskReduceOptions {
  /** Per-element weight, NHWC with 1 or C channels (rank and leading dims as the loss). */
  weight?: tf.Tensor | null;
  /** Default `'mean'`. */
  reduction?: Reduction;
  /** With a weight and `'mean'`: average per sample first, then over the batch. Default false. */
  sample_wise?: boolean;
}

/**
 * Weights and reduces an element-wise loss (MMagic `mask_reduce_loss`), loss shape N×…×C, weight
 * N×…×1 or N×…×C:
 * - no weight, or `'sum'`: `reduceLoss(loss·w, reduction)`; with `'none'` and a weight the
 *   weighted tensor is returned;
 * - weight and `'mean'`: `Σ(loss·w) / (Σ w_C + ε)`, where a 1-channel weight counts C times
 *   (`w_C` is w expanded to C channels) and ε = 1e-12, so an all-zero weight gives 0, not NaN;
 * - weight, `'mean'` and `sample_wise`: `(1/N) Σ_n Σ(loss·w)_n / (Σ w_C,n + ε)`; a sample with an
 *   empty weight adds 0 and still counts in N.
 *
 * `owner` names the calling loss in error messages.
 */
export function maskReduceLoss(
  loss: tf.Tensor,
  options?: Options<MaskReduceOptions>,
  owner = 'maskReduceLoss',
): tf.Tensor {
  const {
    weight = null,
    reduction = 'mean',
    sample_wise = false,
  } = checkOptions(
    // Not `owner`: in MMagic's positional call `mask_reduce_loss(loss, weight, 'sum')` the third
    // argument lands in `owner`.
    'maskReduceLoss',
    2,
    options,
    'maskReduceLoss(loss, {weight, reduction, sample_wise})',
  );
  checkTensor(owner, 'loss', loss);
  checkReduction(owner, reduction);
  if (weight === null || weight === undefined) return reduceLoss(loss, reduction);
  const w = checkWeight(owner, 'weight', weight, loss);
  return tf.tidy(() => {
    const weighted = tf.mul(loss, w);
    if (reduction !== 'mean') return reduceLoss(weighted, reduction);
    if (!sample_wise) return tf.div(tf.sum(weighted), maskDenominator(w, loss, false));
    const axes = Array.from({ length: loss.rank - 1 }, (_, i) => i + 1);
    const perSample = tf.div(tf.sum(weighted, axes), maskDenominator(w, loss, true));
    return tf.mean(perSample);
  });
}

/**
 * The denominator of MMagic's masked mean: `Σ w_C + ε`, where a 1-channel weight counts once per
 * channel of `loss` (C/C_w · Σ w). Over everything (a scalar), or per sample (shape [N]) for
 * `sample_wise`. Shared by `maskReduceLoss` and the fused kernels, so the rule lives once.
 */
export function maskDenominator(
  weight: tf.Tensor,
  loss: { shape: readonly number[] },
  sampleWise: boolean,
): tf.Tensor {
  return tf.tidy(() => {
    const channelFactor = loss.shape[loss.shape.length - 1] / weight.shape[weight.rank - 1];
    const axes = Array.from({ length: weight.rank - 1 }, (_, i) => i + 1);
    const total = sampleWise ? tf.sum(weight, axes) : tf.sum(weight);
    return tf.add(tf.mul(total, channelFactor), MASK_EPS);
  });
}

/** An element-wise loss: `(pred, target, extra) → loss` of pred's shape. */
export type ElementwiseFn<E extends object> = (
  pred: tf.Tensor,
  target: tf.Tensor,
  extra: E,
) => tf.Tensor;

/** A masked loss: `(pred, target, {weight, reduction, sample_wise, ...extra}) → tensor`. */
export type MaskedLossFn<E extends object> = (
  pred: tf.Tensor,
  target: tf.Tensor,
  options?: Options<MaskReduceOptions & Partial<E>>,
) => tf.Tensor;

/**
 * Turns an element-wise function into a masked loss (MMagic's `masked_loss` decorator): the
 * result is `maskReduceLoss(fn(pred, target, extra), {weight, reduction, sample_wise})`.
 * `pred`, `target` and `weight` are checked (float tensors, equal shapes, weight rank and
 * channels) before any math runs; errors name `name`. Intermediates are freed.
 *
 * `defaults` fills the function's own extra options (for example Charbonnier's `eps`).
 */
export function maskedLoss<E extends object = object>(
  fn: ElementwiseFn<E>,
  name: string = fn.name || 'maskedLoss',
  defaults: E = {} as E,
): MaskedLossFn<E> {
  const keys = ['weight', 'reduction', 'sample_wise', ...Object.keys(defaults)].join(', ');
  return (pred, target, options) => {
    const {
      weight,
      reduction = 'mean',
      sample_wise = false,
      ...extra
    } = checkOptions(name, 3, options, `${name}(pred, target, {${keys}})`);
    const p = checkTensor(name, 'pred', pred);
    const t = checkTensor(name, 'target', target);
    checkSameShape(name, ['pred', p], ['target', t]);
    checkReduction(name, reduction);
    if (weight !== null && weight !== undefined) checkWeight(name, 'weight', weight, p);
    const given = Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined));
    return tf.tidy(() =>
      maskReduceLoss(
        fn(p, t, { ...defaults, ...given } as E),
        { weight, reduction, sample_wise },
        name,
      ),
    );
  };
}

/** Options of a {@link weightedLoss}: a weight, a reduction and an averaging factor (mmgen's). */
export interface WeightedLossOptions {
  /** A number, or a tensor broadcastable to the loss, that multiplies it element-wise. */
  weight?: number | tf.Tensor | null;
  /** Default: the wrapper's (given to `weightedLoss`). */
  reduction?: Reduction;
  /** With `'mean'`: divide the sum by this instead of the element count. */
  avg_factor?: number | null;
}

/** A function of tensors, with optional {@link WeightedLossOptions} as an extra last argument. */
export type WeightedLossFn<P extends tf.Tensor[]> = {
  (...inputs: P): tf.Tensor;
  (...inputs: [...P, Options<WeightedLossOptions>]): tf.Tensor;
};

/**
 * Turns a loss function of tensors into a weighted one (mmgen/MMagic's `weighted_loss`, used by
 * `disc_shift_loss`): `reduce(fn(...inputs) · weight)` with `reduction` (`none|mean|sum`), and
 * with `avg_factor` a mean that divides the sum by it. The options object is an optional last
 * argument; `defaultReduction` is the reduction when none is given; `argNames` name the inputs
 * in error messages (`input 0`, `input 1`, … by default). Intermediates are freed.
 *
 * ```ts
 * const discShift = weightedLoss((pred: tf.Tensor) => tf.square(pred), 'discShift', 'none', ['pred']);
 * discShift(pred, { weight: 0.1, reduction: 'mean' }); // 0.1 · mean(pred²)
 * ```
 */
export function weightedLoss<P extends tf.Tensor[]>(
  fn: (...inputs: P) => tf.Tensor,
  name: string = fn.name || 'weightedLoss',
  defaultReduction: Reduction = 'mean',
  argNames: readonly string[] = [],
): WeightedLossFn<P> {
  return ((...args: unknown[]) => {
    const last = args[args.length - 1];
    // The options are an extra argument beyond fn's own (or, for a variadic fn, a non-tensor last).
    const hasOptions =
      fn.length > 0 ? args.length > fn.length : last !== undefined && !(last instanceof tf.Tensor);
    const inputs = (hasOptions ? args.slice(0, -1) : args) as P;
    const {
      weight = null,
      reduction = defaultReduction,
      avg_factor = null,
    } = checkOptions<WeightedLossOptions>(
      name,
      args.length,
      hasOptions ? (last as WeightedLossOptions) : undefined,
      `${name}(${argNames.length > 0 ? argNames.join(', ') : 'inputs…'}, {weight, reduction, avg_factor})`,
    );
    checkReduction(name, reduction);
    inputs.forEach((x, i) => {
      checkTensor(name, argNames[i] ?? `input ${i}`, x);
    });
    if (avg_factor !== null && reduction !== 'mean') {
      throw new ConfigError(`${name}: 'avg_factor' needs reduction 'mean', got '${reduction}'`);
    }
    return tf.tidy(() => {
      const raw = fn(...inputs);
      const loss = weight === null || weight === undefined ? raw : tf.mul(raw, weight);
      if (avg_factor !== null) return tf.div(tf.sum(loss), avg_factor);
      return reduction === 'none' ? loss : reduceLoss(loss, reduction);
    });
  }) as WeightedLossFn<P>;
}
