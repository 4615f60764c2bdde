/**
 * MMagic's alpha-matting metrics: `SAD`, `MattingMSE`, `GradientError` and `ConnectivityError`
 * (mmagic/evaluation/metrics/sad.py, matting_mse.py, gradient_error.py, connectivity_error.py;
 * the first, third and fourth delegate to mmeval's classes of those names), per image, and their
 * average over a data set (`metrics_utils.average`).
 *
 * Inputs, as MMagic's `_fetch_data_and_check` takes them: one image's predicted alpha, ground-truth
 * alpha and trimap, each H×W single-channel, as an H×W×1 (or H×W) float32 tensor or a row-major
 * `Float32Array` of H·W values with `shape: [H, W]` in the options. Alphas are in `[0, 255]`
 * (MMagic's uint8 range; any float in it is accepted) and are divided by 255 in float64, as MMagic;
 * the trimap holds 0 (background), 128 (unknown) and 255 (foreground). The prediction must be
 * masked by the trimap first (0 where it is 0, 255 where it is 255), as MMagic's `_assert_masked`
 * requires. Every metric is a number computed in float64 on the CPU (no tensor is made, none
 * leaks); none is differentiable.
 *
 * A trimap with no unknown pixel gives `MattingMSE`, `GradientError` and `ConnectivityError` 0,
 * as MMagic (its `MattingMSE` returns 0 rather than dividing by zero; the other two sum over an
 * empty region), and the image still counts in the average: genloss keeps MMagic's numbers rather
 * than refusing such an image.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { parseOptions } from '../core/options.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';

/**
 * One H×W single-channel map of a matting sample: an H×W×1 or H×W float32 tensor, or a row-major
 * `Float32Array` of H·W values (its size given by the `shape` option).
 */
export type MattingMap = tf.Tensor | Float32Array;

/** One image of a matting data set, under MMagic's names. */
export interface MattingSample {
  /** The predicted alpha in `[0, 255]`, masked by the trimap. */
  pred_alpha: MattingMap;
  /** The ground-truth alpha in `[0, 255]` (MMagic's `ori_alpha`). */
  gt_alpha: MattingMap;
  /** 0 (background), 128 (unknown), 255 (foreground) (MMagic's `ori_trimap`). */
  trimap: MattingMap;
}

/** The option every matting metric takes: the maps' size, needed for `Float32Array` maps. */
export interface MattingShapeOption {
  /** `[H, W]`: required when a map is a `Float32Array`; for tensors, checked against them. */
  shape?: readonly [number, number];
}

/** Options of {@link sad}. */
export interface SadOptions extends MattingShapeOption {
  /** The sum is divided by it, > 0. Default 1000 (MMagic's). */
  norm_const?: number;
}

/** Options of {@link gradientError}. */
export interface GradientErrorOptions extends MattingShapeOption {
  /** σ of the derivative-of-Gaussian filter, > 0. Default 1.4 (MMagic's). */
  sigma?: number;
  /** The sum is divided by it, > 0. Default 1000 (MMagic's). */
  norm_const?: number;
}

/** Options of {@link connectivityError}. */
export interface ConnectivityErrorOptions extends MattingShapeOption {
  /** Spacing of the thresholds `0, step, 2·step, …`, in (0, 1]. Default 0.1 (MMagic's). */
  step?: number;
  /** The sum is divided by it, > 0. Default 1000 (MMagic's). */
  norm_const?: number;
}

/** Options of {@link mattingMetrics}: each metric's own, `norm_const` shared by three. */
export type MattingMetricsOptions = SadOptions & GradientErrorOptions & ConnectivityErrorOptions;

/** The four metrics under MMagic's result keys. */
export interface MattingMetrics {
  SAD: number;
  MattingMSE: number;
  GradientError: number;
  ConnectivityError: number;
}

const shapeOption = z
  .tuple([z.number().int().positive(), z.number().int().positive()])
  .readonly()
  .optional();
const normConstOption = z.number().finite().positive().default(1000);
const sigmaOption = z.number().finite().positive().default(1.4);
const stepOption = z.number().finite().positive().max(1).default(0.1);

const SAD_OPTIONS = z.strictObject({ norm_const: normConstOption, shape: shapeOption });
const MSE_OPTIONS = z.strictObject({ shape: shapeOption });
const GRADIENT_OPTIONS = z.strictObject({
  sigma: sigmaOption,
  norm_const: normConstOption,
  shape: shapeOption,
});
const CONNECTIVITY_OPTIONS = z.strictObject({
  step: stepOption,
  norm_const: normConstOption,
  shape: shapeOption,
});
const METRICS_OPTIONS = z.strictObject({
  sigma: sigmaOption,
  step: stepOption,
  norm_const: normConstOption,
  shape: shapeOption,
});

/** A checked sample: alphas divided by 255 (float64), the unknown pixels, and the size. */
interface Matte {
  pred: Float64Array;
  gt: Float64Array;
  unknown: Uint8Array;
  unknownCount: number;
  height: number;
  width: number;
}

/** Reads one map: its values and `[H, W]` (a `ShapeError` naming `arg` for anything else). */
function readMap(
  owner: string,
  arg: string,
  value: unknown,
  shape: readonly [number, number] | undefined,
): { values: Float32Array; height: number; width: number } {
  if (value instanceof Float32Array) {
    if (shape === undefined) {
      throw new ShapeError(
        `${owner}: '${arg}' is a Float32Array; give its size as the option shape: [H, W]`,
      );
    }
    if (value.length !== shape[0] * shape[1]) {
      throw new ShapeError(
        `${owner}: '${arg}' must hold H·W = ${shape[0]}·${shape[1]} = ${shape[0] * shape[1]} values (shape: [${shape.join(', ')}]), got ${value.length}`,
      );
    }
    return { values: value, height: shape[0], width: shape[1] };
  }
  if (!(value instanceof tf.Tensor)) {
    throw new ShapeError(
      `${owner}: '${arg}' must be an H×W×1 float32 tensor or a Float32Array, got ${describeValue(value)}`,
    );
  }
  const t = checkTensor(owner, arg, value, [2, 3]);
  if (t.rank === 3 && t.shape[2] !== 1) {
    throw new ShapeError(
      `${owner}: '${arg}' must be single-channel (H×W×1), got ${describeValue(t)}`,
    );
  }
  const [height, width] = t.shape;
  if (shape !== undefined && (shape[0] !== height || shape[1] !== width)) {
    throw new ShapeError(
      `${owner}: '${arg}' must be ${shape[0]}×${shape[1]} (shape: [${shape.join(', ')}]), got ${describeValue(t)}`,
    );
  }
  return { values: t.dataSync() as Float32Array, height, width };
}

const at = (i: number, width: number) => `(row ${Math.floor(i / width)}, column ${i % width})`;

/** An alpha divided by 255, each value checked to lie in `[0, 255]`. */
function readAlpha(owner: string, arg: string, values: Float32Array, width: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 255)) {
      throw new ShapeError(
        `${owner}: '${arg}' must be an alpha matte in [0, 255], got ${v} at ${at(i, width)}`,
      );
    }
    out[i] = v / 255;
  }
  return out;
}

/**
 * Checks one sample as MMagic's `_fetch_data_and_check` (and more: the value ranges, the trimap's
 * three values, one size for the three maps) and reads it. `prefix` names the sample in messages.
 */
function readMatte(
  owner: string,
  sample: MattingSample,
  shape: readonly [number, number] | undefined,
  prefix = '',
): Matte {
  const p = readMap(owner, `${prefix}pred_alpha`, sample.pred_alpha, shape);
  const g = readMap(owner, `${prefix}gt_alpha`, sample.gt_alpha, shape);
  const t = readMap(owner, `${prefix}trimap`, sample.trimap, shape);
  for (const [arg, m] of [
    ['gt_alpha', g],
    ['trimap', t],
  ] as const) {
    if (m.height !== p.height || m.width !== p.width) {
      throw new ShapeError(
        `${owner}: '${prefix}${arg}' must be ${p.height}×${p.width} as '${prefix}pred_alpha', got ${m.height}×${m.width}`,
      );
    }
  }
  const { height, width } = p;
  const pred = readAlpha(owner, `${prefix}pred_alpha`, p.values, width);
  const gt = readAlpha(owner, `${prefix}gt_alpha`, g.values, width);
  const unknown = new Uint8Array(pred.length);
  let unknownCount = 0;
  for (let i = 0; i < pred.length; i++) {
    const tri = t.values[i];
    if (tri === 128) {
      unknown[i] = 1;
      unknownCount++;
    } else if (tri !== 0 && tri !== 255) {
      throw new ShapeError(
        `${owner}: '${prefix}trimap' must hold only 0 (background), 128 (unknown) and 255 (foreground), got ${tri} at ${at(i, width)}`,
      );
    } else if (p.values[i] !== tri) {
      const hint =
        tri === 255 && p.values[i] <= 1 ? ' (an alpha in [0, 1]? multiply it by 255)' : '';
      throw new ShapeError(
        `${owner}: '${prefix}pred_alpha' must be masked by the trimap before evaluation (0 where it is 0, 255 where it is 255), as MMagic requires; got ${p.values[i]} at ${at(i, width)} where the trimap is ${tri}${hint}`,
      );
    }
  }
  return { pred, gt, unknown, unknownCount, height, width };
}

/** The options and the read sample of a one-image metric call. */
function prepare<S extends z.ZodType<{ shape?: readonly [number, number] }>>(
  owner: string,
  schema: S,
  sample: MattingSample,
  options: object | undefined,
): [z.output<S>, Matte] {
  const opts = parseOptions(
    owner,
    schema,
    checkOptions(owner, 4, options, `${owner}(predAlpha, gtAlpha, trimap, { shape: [H, W], ... })`),
  );
  return [opts, readMatte(owner, sample, opts.shape)];
}

function sadOf({ pred, gt }: Matte, normConst: number): number {
  let sum = 0;
  for (let i = 0; i < pred.length; i++) sum += Math.abs(pred[i] - gt[i]);
  return sum / normConst;
}

function mseOf({ pred, gt, unknownCount }: Matte): number {
  if (unknownCount === 0) return 0;
  let sum = 0;
  for (let i = 0; i < pred.length; i++) sum += (pred[i] - gt[i]) ** 2;
  return sum / unknownCount;
}

/** A sigma for which MMagic's `gauss_filter` is NaN (0/0, or the root of a negative size). */
function sigmaError(owner: string, sigma: number): ConfigError {
  return new ConfigError(
    `${owner}: 'sigma' must give a finite derivative-of-Gaussian filter (below 100/sqrt(2π) ≈ 39.89, and not so small that the filter underflows to 0), got ${sigma}`,
  );
}

/**
 * MMagic's `gauss_filter(sigma)` in its separable form: `filter_x[i][j] = g(i − h)·g'(j − h)/‖·‖`
 * (g the Gaussian density of σ, g' its derivative, ‖·‖ the L2 norm of the whole 2-D filter,
 * `h = ceil(σ·sqrt(−2·ln(sqrt(2π)·σ·0.01)))`), returned as its two factors `along` (g', over
 * columns for x) and `across` (g/‖·‖); `filter_y` is its transpose.
 */
function derivativeOfGaussian(
  owner: string,
  sigma: number,
): { along: Float64Array; across: Float64Array } {
  const half = Math.ceil(sigma * Math.sqrt(-2 * Math.log(Math.sqrt(2 * Math.PI) * sigma * 1e-2)));
  if (!Number.isFinite(half)) throw sigmaError(owner, sigma);
  const g = (x: number) =>
    Math.exp(-(x ** 2) / (2 * sigma ** 2)) / (sigma * Math.sqrt(2 * Math.PI));
  const along = new Float64Array(2 * half + 1);
  const across = new Float64Array(2 * half + 1);
  for (let k = 0; k <= 2 * half; k++) {
    const x = k - half;
    across[k] = g(x);
    along[k] = (-x * g(x)) / sigma ** 2;
  }
  const norm =
    Math.sqrt(across.reduce((s, v) => s + v * v, 0)) *
    Math.sqrt(along.reduce((s, v) => s + v * v, 0));
  if (!(norm > 0 && Number.isFinite(norm))) throw sigmaError(owner, sigma);
  for (let k = 0; k <= 2 * half; k++) across[k] /= norm;
  return { along, across };
}

/** Correlates an H×W image with `kernel` along rows (`dx`) or columns, replicating the border. */
function correlate1d(
  src: Float64Array,
  height: number,
  width: number,
  kernel: Float64Array,
  alongRows: boolean,
): Float64Array {
  const half = (kernel.length - 1) / 2;
  const out = new Float64Array(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < kernel.length; k++) {
        const yy = alongRows ? y : Math.min(Math.max(y + k - half, 0), height - 1);
        const xx = alongRows ? Math.min(Math.max(x + k - half, 0), width - 1) : x;
        sum += kernel[k] * src[yy * width + xx];
      }
      out[y * width + x] = sum;
    }
  }
  return out;
}

/**
 * MMagic's `gauss_gradient` of an alpha after `cv2.normalize(NORM_MINMAX)` to [0, 1] (all 0 for
 * a flat alpha, cv2's scale 0): the magnitude of its correlation with the filter pair
 * (`cv2.filter2D`, `BORDER_REPLICATE`).
 */
function gaussianGradient(
  alpha: Float64Array,
  height: number,
  width: number,
  filter: { along: Float64Array; across: Float64Array },
): Float64Array {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of alpha) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = hi - lo > Number.EPSILON ? 1 / (hi - lo) : 0;
  const normed = alpha.map((v) => v * scale - lo * scale);
  const gx = correlate1d(
    correlate1d(normed, height, width, filter.along, true),
    height,
    width,
    filter.across,
    false,
  );
  const gy = correlate1d(
    correlate1d(normed, height, width, filter.across, true),
    height,
    width,
    filter.along,
    false,
  );
  return gx.map((v, i) => Math.hypot(v, gy[i]));
}

function gradientErrorOf(owner: string, m: Matte, sigma: number, normConst: number): number {
  const filter = derivativeOfGaussian(owner, sigma);
  const gPred = gaussianGradient(m.pred, m.height, m.width, filter);
  const gGt = gaussianGradient(m.gt, m.height, m.width, filter);
  let sum = 0;
  for (let i = 0; i < gPred.length; i++) if (m.unknown[i]) sum += (gGt[i] - gPred[i]) ** 2;
  return sum / normConst;
}

/**
 * The largest 4-connected component of `mask` (H×W, row-major) as a 0/1 mask, all 0 when `mask`
 * is. Components are labelled in a row-major scan, so on a tie of sizes the one met first wins:
 * cv2 numbers its labels in that order and MMagic takes `np.argmax` (the first maximum) of the
 * sizes of `cv2.connectedComponentsWithStats(connectivity=4)`.
 */
function largestComponent(mask: Uint8Array, height: number, width: number): Uint8Array {
  const label = new Int32Array(mask.length);
  const stack = new Int32Array(mask.length);
  let top = 0;
  let best = 0;
  let bestSize = 0;
  let next = 0;
  const visit = (j: number) => {
    if (mask[j] && !label[j]) {
      label[j] = next;
      stack[top++] = j;
    }
  };
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || label[start]) continue;
    next++;
    visit(start);
    let size = 0;
    while (top > 0) {
      const i = stack[--top];
      size++;
      const x = i % width;
      if (i >= width) visit(i - width);
      if (i < (height - 1) * width) visit(i + width);
      if (x > 0) visit(i - 1);
      if (x < width - 1) visit(i + 1);
    }
    if (size > bestSize) {
      best = next;
      bestSize = size;
    }
  }
  const omega = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) omega[i] = best > 0 && label[i] === best ? 1 : 0;
  return omega;
}

/** `np.arange(0, 1 + step, step)`: `ceil((1 + step)/step)` values `i·step`. */
function thresholds(step: number): number[] {
  return Array.from({ length: Math.ceil((1 + step) / step) }, (_, i) => i * step);
}

function connectivityErrorOf(m: Matte, step: number, normConst: number): number {
  const { pred, gt } = m;
  const steps = thresholds(step);
  const level = new Float64Array(pred.length).fill(-1);
  const both = new Uint8Array(pred.length);
  for (let s = 1; s < steps.length; s++) {
    for (let i = 0; i < pred.length; i++)
      both[i] = gt[i] >= steps[s] && pred[i] >= steps[s] ? 1 : 0;
    const omega = largestComponent(both, m.height, m.width);
    for (let i = 0; i < pred.length; i++) {
      if (level[i] === -1 && !omega[i]) level[i] = steps[s - 1];
    }
  }
  const phi = (alpha: number, l: number) => {
    const d = alpha - l;
    return 1 - (d >= 0.15 ? d : 0);
  };
  let sum = 0;
  for (let i = 0; i < pred.length; i++) {
    if (!m.unknown[i]) continue;
    const l = level[i] === -1 ? 1 : level[i];
    sum += Math.abs(phi(gt[i], l) - phi(pred[i], l));
  }
  return sum / normConst;
}

/**
 * Sum of absolute differences (MMagic `SAD`, mmeval `SumAbsoluteDifferences`):
 * `Σ |pred/255 − gt/255| / norm_const` over every pixel (not only the unknown ones, as MMagic).
 *
 * @param predAlpha H×W×1 (or H×W) in [0, 255], masked by the trimap; or a Float32Array.
 * @param gtAlpha the size of predAlpha, in [0, 255].
 * @param trimap the size of predAlpha: 0, 128 (unknown), 255 (only checked here, as MMagic).
 * @param options `norm_const` (1000), `shape` ([H, W], for Float32Array maps).
 * @returns the image's SAD.
 * @example sad(pred, gt, trimap) // 32×32×1 tensors: pred = gt gives 0
 */
export function sad(
  predAlpha: MattingMap,
  gtAlpha: MattingMap,
  trimap: MattingMap,
  options?: Options<SadOptions>,
): number {
  const sample = { pred_alpha: predAlpha, gt_alpha: gtAlpha, trimap };
  const [opts, m] = prepare('sad', SAD_OPTIONS, sample, options);
  return sadOf(m, opts.norm_const);
}

/**
 * Mean squared error of a matte (MMagic `MattingMSE`): `Σ (pred/255 − gt/255)² / #unknown`, the
 * sum over every pixel and the count over the unknown ones (trimap = 128), as MMagic; 0 when the
 * trimap has no unknown pixel. MMagic's class takes a `norm_const` that it never applies: genloss
 * has no such option.
 *
 * @param predAlpha H×W×1 (or H×W) in [0, 255], masked by the trimap; or a Float32Array.
 * @param gtAlpha the size of predAlpha, in [0, 255].
 * @param trimap the size of predAlpha: 0, 128 (unknown), 255.
 * @param options `shape` ([H, W], for Float32Array maps).
 * @returns the image's MattingMSE.
 */
export function mattingMse(
  predAlpha: MattingMap,
  gtAlpha: MattingMap,
  trimap: MattingMap,
  options?: Options<MattingShapeOption>,
): number {
  const sample = { pred_alpha: predAlpha, gt_alpha: gtAlpha, trimap };
  return mseOf(prepare('mattingMse', MSE_OPTIONS, sample, options)[1]);
}

/**
 * Gradient error (MMagic `GradientError`, mmeval's): each alpha (/255) is min-max normalised to
 * [0, 1] (`cv2.normalize`, all 0 when flat), `G = sqrt((a ⋆ Fx)² + (a ⋆ Fy)²)` with ⋆ the
 * correlation with replicated borders (`cv2.filter2D`) and Fx, Fy = Fxᵀ MMagic's `gauss_filter`
 * (`Fx[i][j] ∝ g(i − h)·g'(j − h)`, g the Gaussian of σ = `sigma`, unit L2 norm, 9×9 for σ 1.4),
 * then `Σ_unknown (G_gt − G_pred)² / norm_const` over the unknown pixels (trimap = 128).
 *
 * @param predAlpha H×W×1 (or H×W) in [0, 255], masked by the trimap; or a Float32Array.
 * @param gtAlpha the size of predAlpha, in [0, 255].
 * @param trimap the size of predAlpha: 0, 128 (unknown), 255.
 * @param options `sigma` (1.4), `norm_const` (1000), `shape` ([H, W], for Float32Array maps).
 * @returns the image's gradient error.
 */
export function gradientError(
  predAlpha: MattingMap,
  gtAlpha: MattingMap,
  trimap: MattingMap,
  options?: Options<GradientErrorOptions>,
): number {
  const sample = { pred_alpha: predAlpha, gt_alpha: gtAlpha, trimap };
  const [opts, m] = prepare('gradientError', GRADIENT_OPTIONS, sample, options);
  return gradientErrorOf('gradientError', m, opts.sigma, opts.norm_const);
}

/**
 * Connectivity error (MMagic `ConnectivityError`, mmeval's; Rhemann et al., CVPR 2009): with
 * thresholds `t_i = i·step` (`np.arange(0, 1 + step, step)`), each pixel's level `l` is
 * `t_{i−1}` for the first `i ≥ 1` at which it is outside Ω_i, the largest 4-connected component
 * of `(gt ≥ t_i) ∧ (pred ≥ t_i)` (alphas /255; on a tie the component met first in a row-major
 * scan, as cv2 labels them), and 1 if never; `φ(a) = 1 − d·[d ≥ 0.15]` with `d = a − l`; the
 * error is `Σ_unknown |φ(gt) − φ(pred)| / norm_const` over the unknown pixels (trimap = 128).
 *
 * @param predAlpha H×W×1 (or H×W) in [0, 255], masked by the trimap; or a Float32Array.
 * @param gtAlpha the size of predAlpha, in [0, 255].
 * @param trimap the size of predAlpha: 0, 128 (unknown), 255.
 * @param options `step` (0.1, in (0, 1]), `norm_const` (1000), `shape` ([H, W], for Float32Array
 *   maps).
 * @returns the image's connectivity error.
 */
export function connectivityError(
  predAlpha: MattingMap,
  gtAlpha: MattingMap,
  trimap: MattingMap,
  options?: Options<ConnectivityErrorOptions>,
): number {
  const sample = { pred_alpha: predAlpha, gt_alpha: gtAlpha, trimap };
  const [opts, m] = prepare('connectivityError', CONNECTIVITY_OPTIONS, sample, options);
  return connectivityErrorOf(m, opts.step, opts.norm_const);
}

/**
 * The four matting metrics of a data set, as MMagic reports them: each image's {@link sad},
 * {@link mattingMse}, {@link gradientError} and {@link connectivityError}, averaged over the
 * images with equal weight (`metrics_utils.average`, every result of batch size 1).
 *
 * @param samples one or more images (each checked as by the one-image functions; messages name
 *   `samples[k]`), all of one size when `shape` is given.
 * @param options `sigma` (1.4), `step` (0.1), `norm_const` (1000, for SAD, GradientError and
 *   ConnectivityError, each MMagic metric's own default), `shape`.
 * @returns `{SAD, MattingMSE, GradientError, ConnectivityError}`.
 */
export function mattingMetrics(
  samples: readonly MattingSample[],
  options?: Options<MattingMetricsOptions>,
): MattingMetrics {
  const owner = 'mattingMetrics';
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new ShapeError(
      `${owner}: 'samples' must be a non-empty array of {pred_alpha, gt_alpha, trimap}, got ${describeValue(samples)}`,
    );
  }
  const opts = parseOptions(
    owner,
    METRICS_OPTIONS,
    checkOptions(owner, 2, options, `${owner}(samples, { sigma, step, norm_const, shape })`),
  );
  const total: MattingMetrics = { SAD: 0, MattingMSE: 0, GradientError: 0, ConnectivityError: 0 };
  samples.forEach((sample, k) => {
    if (sample === null || typeof sample !== 'object') {
      throw new ShapeError(
        `${owner}: 'samples[${k}]' must be an object {pred_alpha, gt_alpha, trimap}, got ${describeValue(sample)}`,
      );
    }
    const m = readMatte(owner, sample, opts.shape, `samples[${k}].`);
    total.SAD += sadOf(m, opts.norm_const);
    total.MattingMSE += mseOf(m);
    total.GradientError += gradientErrorOf(owner, m, opts.sigma, opts.norm_const);
    total.ConnectivityError += connectivityErrorOf(m, opts.step, opts.norm_const);
  });
  const n = samples.length;
  return {
    SAD: total.SAD / n,
    MattingMSE: total.MattingMSE / n,
    GradientError: total.GradientError / n,
    ConnectivityError: total.ConnectivityError / n,
  };
}

/**
 * The configs of MMagic's four matting metrics, for `buildMetric`: `{type: 'SAD', norm_const}`,
 * `{type: 'MattingMSE'}`, `{type: 'GradientError', sigma, norm_const}`,
 * `{type: 'ConnectivityError', step, norm_const}`, with MMagic's defaults. MMagic's `scaling` and
 * `prefix` (result bookkeeping) and `MattingMSE`'s unused `norm_const` are refused.
 */
export const mattingMetricConfigSchemas = [
  z.strictObject({ type: z.literal('SAD'), norm_const: normConstOption }),
  z.strictObject({ type: z.literal('MattingMSE') }),
  z.strictObject({
    type: z.literal('GradientError'),
    sigma: sigmaOption,
    norm_const: normConstOption,
  }),
  z.strictObject({
    type: z.literal('ConnectivityError'),
    step: stepOption,
    norm_const: normConstOption,
  }),
] as const;

/** A matting metric class: MMagic's metric `metricType` with its config, one image a `compute`. */
export interface MattingMetric<O extends object> {
  readonly cfg: O;
  /** The metric of one image; `shape` ([H, W]) for `Float32Array` maps. */
  compute(
    predAlpha: MattingMap,
    gtAlpha: MattingMap,
    trimap: MattingMap,
    shape?: readonly [number, number],
  ): number;
}

/** The class of MMagic's metric `metricType`, computing `fn` with its config. */
function mattingMetricClass<O extends object>(
  metricType: string,
  fn: (p: MattingMap, g: MattingMap, t: MattingMap, o: O & MattingShapeOption) => number,
) {
  return class implements MattingMetric<O> {
    static readonly metricType = metricType;
    constructor(readonly cfg: O) {}

    compute(
      predAlpha: MattingMap,
      gtAlpha: MattingMap,
      trimap: MattingMap,
      shape?: readonly [number, number],
    ): number {
      return fn(predAlpha, gtAlpha, trimap, { ...this.cfg, shape });
    }
  };
}

/** MMagic's `SAD` metric with its config (`norm_const`): {@link sad} per image. */
export const SAD = mattingMetricClass<{ norm_const: number }>('SAD', sad);
/** MMagic's `SAD` metric instance. */
export type SAD = InstanceType<typeof SAD>;
/** MMagic's `MattingMSE` metric (no config key): {@link mattingMse} per image. */
export const MattingMSE = mattingMetricClass<Record<string, never>>('MattingMSE', mattingMse);
/** MMagic's `MattingMSE` metric instance. */
export type MattingMSE = InstanceType<typeof MattingMSE>;
/** MMagic's `GradientError` metric with its config (`sigma`, `norm_const`): {@link gradientError} per image. */
export const GradientError = mattingMetricClass<{ sigma: number; norm_const: number }>(
  'GradientError',
  gradientError,
);
/** MMagic's `GradientError` metric instance. */
export type GradientError = InstanceType<typeof GradientError>;
/** MMagic's `ConnectivityError` metric with its config (`step`, `norm_const`): {@link connectivityError} per image. */
export const ConnectivityError = mattingMetricClass<{ step: number; norm_const: number }>(
  'ConnectivityError',
  connectivityError,
);
/** MMagic's `ConnectivityError` metric instance. */
export type ConnectivityError = InstanceType<typeof ConnectivityError>;
