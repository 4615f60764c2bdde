/**
 * Structural similarity: piq's `ssim` and `multi_scale_ssim` (per-image metrics) and the losses
 * `SSIMLoss` and `MultiScaleSSIMLoss` (`1 − metric`, reduced), with piq's keys and defaults.
 *
 * Both follow piq's code: the images are divided by `data_range`; a normalised `kernel_size`²
 * Gaussian window of σ = `kernel_sigma` filters x, y, x², y² and xy per channel with no padding
 * ('valid'); `μ` and `σ` come from those five maps, `c1 = k1²`, `c2 = k2²`,
 *
 * `cs = (2σxy + c2) / (σx² + σy² + c2)`, `ssim = (2μxμy + c1) / (μx² + μy² + c1) · cs`,
 *
 * and each map is averaged over the pixels, giving one value per image and channel. Inputs are
 * N×H×W×C (greyscale C = 1, RGB C = 3) in `[0, data_range]`.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions, type Reduction, reductionOption } from '../core/options.ts';
import { checkOptions, checkSameShape, checkTensor, type Options } from '../core/validate.ts';
import { gaussianKernel1d } from '../ops/gaussian-blur.ts';
import { avgPool2d } from '../ops/pooling.ts';

/** The MS-SSIM paper's scale weights, piq's default `scale_weights` (5 scales). */
export const MS_SSIM_SCALE_WEIGHTS: readonly number[] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/** The options `ssim` and `multiScaleSsim` share: piq's keys and defaults. */
interface SsimCommonOptions {
  /** Side of the Gaussian window, an odd positive integer. Default 11. */
  kernel_size?: number;
  /** σ of the Gaussian window, > 0. Default 1.5. */
  kernel_sigma?: number;
  /** The images' value range `[0, data_range]`, > 0 (usually 1 or 255). Default 1. */
  data_range?: number;
  /** `c1 = k1²`, k1 > 0. Default 0.01. */
  k1?: number;
  /** `c2 = k2²`, k2 > 0. Default 0.03. */
  k2?: number;
}

/** Options of {@link ssim}. */
export interface SsimOptions extends SsimCommonOptions {
  /**
   * Average-pool both images by `f = max(1, round(min(H, W) / 256))` (kernel and stride f, Python's
   * round) first, as piq (to match skimage and TensorFlow). Default true.
   */
  downsample?: boolean;
}

/** Options of {@link multiScaleSsim}. */
export interface MultiScaleSsimOptions extends SsimCommonOptions {
  /**
   * One non-negative weight per scale (the number of scales), normalised to sum 1 when given, as
   * piq. Left out: the paper's {@link MS_SSIM_SCALE_WEIGHTS}, as they are (they sum to 1.0001).
   */
  scale_weights?: readonly number[];
}

function checkNumber(owner: string, key: string, value: unknown, positive = true): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (positive && !(value > 0))) {
    throw new ConfigError(
      `${owner}: '${key}' must be a ${positive ? 'positive' : 'finite'} number, got ${describeValue(value)}`,
    );
  }
  return value;
}

interface Common {
  kernel_size: number;
  kernel_sigma: number;
  data_range: number;
  k1: number;
  k2: number;
}

/** Checks the shared options (a `ConfigError` naming `owner` and the key); fills in defaults. */
function checkCommon(
  owner: string,
  { kernel_size = 11, kernel_sigma = 1.5, data_range = 1, k1 = 0.01, k2 = 0.03 }: SsimCommonOptions,
): Common {
  if (!Number.isInteger(kernel_size) || kernel_size < 1 || kernel_size % 2 !== 1) {
    throw new ConfigError(
      `${owner}: 'kernel_size' must be an odd positive integer, got ${describeValue(kernel_size)}`,
    );
  }
  return {
    kernel_size,
    kernel_sigma: checkNumber(owner, 'kernel_sigma', kernel_sigma),
    data_range: checkNumber(owner, 'data_range', data_range),
    k1: checkNumber(owner, 'k1', k1),
    k2: checkNumber(owner, 'k2', k2),
  };
}

/** Checks `scale_weights` and returns the weights piq uses (normalised when given). */
function checkScaleWeights(owner: string, weights: unknown): number[] {
  if (weights === undefined) return [...MS_SSIM_SCALE_WEIGHTS];
  const ok =
    Array.isArray(weights) &&
    weights.length > 0 &&
    weights.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0);
  const total = ok ? (weights as number[]).reduce((a, b) => a + b, 0) : 0;
  if (!ok || !(total > 0)) {
    throw new ConfigError(
      `${owner}: 'scale_weights' must be a non-empty list of non-negative numbers with a positive sum, got ${describeValue(weights)}`,
    );
  }
  return (weights as number[]).map((w) => w / total);
}

/**
 * Checks x and y (live float32 N×H×W×C tensors of one shape, every value in `[0, data_range]`
 * with genloss's slack of 1e-3·data_range, as `checkInputRange`); reads back two numbers each.
 */
function checkImages(owner: string, x: unknown, y: unknown, dataRange: number) {
  const a = checkTensor(owner, 'x', x, 4) as tf.Tensor4D;
  const b = checkTensor(owner, 'y', y, 4) as tf.Tensor4D;
  checkSameShape(owner, ['x', a], ['y', b]);
  const slack = 1e-3 * dataRange;
  for (const [name, t] of [
    ['x', a],
    ['y', b],
  ] as const) {
    const [min, max] = tf.tidy(() => tf.stack([tf.min(t), tf.max(t)]).dataSync());
    if (!(min >= -slack && max <= dataRange + slack)) {
      const hint = max > 2 && dataRange <= 1 ? ' (an image in 0..255? set data_range: 255)' : '';
      throw new ShapeError(
        `${owner}: '${name}' must be an image in [0, data_range] = [0, ${dataRange}], got values in [${min}, ${max}]${hint}`,
      );
    }
  }
  return [a, b] as const;
}

/** Python's `round`: halves go to the even neighbour. */
function pythonRound(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * piq's `_ssim_per_channel` on images already divided by `data_range`: the mean SSIM and CS over
 * the valid window positions, N×C each. The five filtered maps go through one depthwise pass
 * along H and one along W (the Gaussian window is separable, its 1-D factors normalised).
 *
 * The second moments are taken of x − a and y − b, with a and b each image's channel means
 * (constants to autodiff): σ does not change, but `E[x²] − μ²` no longer cancels float32 digits
 * far above c2 (a flat region gives σ = 0 exactly instead of rounding noise).
 */
function ssimPerChannel(x: tf.Tensor4D, y: tf.Tensor4D, o: Common): [tf.Tensor2D, tf.Tensor2D] {
  return tf.tidy(() => {
    const c = x.shape[3];
    const k = o.kernel_size;
    const taps = gaussianKernel1d(k, o.kernel_sigma);
    const a = stopGradient(tf.mean(x, [1, 2], true));
    const b = stopGradient(tf.mean(y, [1, 2], true));
    const xc = tf.sub(x, a);
    const yc = tf.sub(y, b);
    const maps = tf.concat([x, y, tf.square(xc), tf.square(yc), tf.mul(xc, yc)], 3) as tf.Tensor4D;
    const filter = (shape: [number, number]) =>
      tf.tile(tf.tensor4d(taps, [...shape, 1, 1]), [1, 1, 5 * c, 1]) as tf.Tensor4D;
    let f = maps;
    if (k > 1) {
      f = tf.depthwiseConv2d(f, filter([k, 1]), 1, 'valid');
      f = tf.depthwiseConv2d(f, filter([1, k]), 1, 'valid');
    }
    const [muX, muY, xx, yy, xy] = tf.split(f, 5, 3);
    const muXX = tf.square(muX);
    const muYY = tf.square(muY);
    const muXY = tf.mul(muX, muY);
    const muXc = tf.sub(muX, a);
    const muYc = tf.sub(muY, b);
    const sigmaXX = tf.sub(xx, tf.square(muXc));
    const sigmaYY = tf.sub(yy, tf.square(muYc));
    const sigmaXY = tf.sub(xy, tf.mul(muXc, muYc));
    const c1 = o.k1 ** 2;
    const c2 = o.k2 ** 2;
    const cs = tf.div(tf.add(tf.mul(sigmaXY, 2), c2), tf.add(tf.add(sigmaXX, sigmaYY), c2));
    const luminance = tf.div(tf.add(tf.mul(muXY, 2), c1), tf.add(tf.add(muXX, muYY), c1));
    const ss = tf.mul(luminance, cs);
    return [tf.mean(ss, [1, 2]) as tf.Tensor2D, tf.mean(cs, [1, 2]) as tf.Tensor2D];
  });
}

const sizeText = (x: tf.Tensor) => `${x.shape[1]}×${x.shape[2]}`;

/** `ssim` with the name errors carry. */
function ssimValues(owner: string, x: unknown, y: unknown, options: SsimOptions): tf.Tensor1D {
  const o = checkCommon(owner, options);
  const downsample = options.downsample ?? true;
  if (typeof downsample !== 'boolean') {
    throw new ConfigError(
      `${owner}: 'downsample' must be a boolean, got ${describeValue(downsample)}`,
    );
  }
  const [a, b] = checkImages(owner, x, y, o.data_range);
  const [h, w] = [a.shape[1], a.shape[2]];
  const f = Math.max(1, pythonRound(Math.min(h, w) / 256));
  const pooled = downsample && f > 1;
  const k = o.kernel_size;
  const side = pooled ? Math.floor(Math.min(h, w) / f) : Math.min(h, w);
  if (side < k) {
    const after = pooled ? ` after the ${f}× downsampling (set downsample: false to skip it)` : '';
    throw new ShapeError(
      `${owner}: the images must be at least ${k}×${k} pixels (kernel_size ${k})${after}, got ${sizeText(a)}`,
    );
  }
  return tf.tidy(() => {
    let xs = tf.div(a, o.data_range) as tf.Tensor4D;
    let ys = tf.div(b, o.data_range) as tf.Tensor4D;
    if (pooled) {
      xs = avgPool2d(xs, f);
      ys = avgPool2d(ys, f);
    }
    const [s] = ssimPerChannel(xs, ys, o);
    return tf.mean(s, 1) as tf.Tensor1D;
  });
}

/**
 * SSIM (piq `ssim(x, y, …, reduction='none')`): the structural similarity of each image pair,
 * the SSIM map averaged over the valid pixels, then over the channels. 1 for identical images;
 * flat regions are finite (their CS is c2/c2 = 1).
 *
 * @param x N×H×W×C float32 in `[0, data_range]`, H and W at least `kernel_size` (after the
 *   downsampling, which never makes an image too small).
 * @param y the shape of x, in `[0, data_range]`.
 * @param options `kernel_size` 11 (odd), `kernel_sigma` 1.5, `data_range` 1, `k1` 0.01, `k2`
 *   0.03, `downsample` true.
 * @returns N values, one per image.
 */
export function ssim(x: tf.Tensor, y: tf.Tensor, options?: Options<SsimOptions>): tf.Tensor1D {
  return ssimValues(
    'ssim',
    x,
    y,
    checkOptions('ssim', 3, options, 'ssim(x, y, {kernel_size, data_range, …})'),
  );
}

/**
 * `relu(v)^w` with a gradient of 0 (not NaN) where `v ≤ 0`: the power is taken of `v` where
 * `v > 0` and of 1 elsewhere, and `where` keeps only the first. (`pow(0, w)`'s derivative
 * `w·0^(w−1)` is infinite for w < 1, and ∞·0 from the relu is NaN; PyTorch's relu backward is a
 * select too, so it also gives 0.) A weight of 0 is the factor 1, as `0^0 = 1` in PyTorch.
 */
function reluPow(v: tf.Tensor, w: number): tf.Tensor {
  if (w === 0) return tf.onesLike(v);
  const positive = tf.greater(v, 0);
  const base = tf.where(positive, v, tf.onesLike(v));
  return tf.where(positive, tf.pow(base, w), tf.zerosLike(v));
}

/** piq's step between scales: replicate-pad top and left by `max(H % 2, W % 2)`, 2×2 mean. */
function halve(x: tf.Tensor4D): tf.Tensor4D {
  const p = Math.max(x.shape[1] % 2, x.shape[2] % 2);
  let t = x;
  if (p) {
    t = tf.concat([tf.slice(t, [0, 0, 0, 0], [-1, 1, -1, -1]), t], 1);
    t = tf.concat([tf.slice(t, [0, 0, 0, 0], [-1, -1, 1, -1]), t], 2);
  }
  return avgPool2d(t, 2);
}

/** `multiScaleSsim` with the name errors carry. */
function multiScaleSsimValues(
  owner: string,
  x: unknown,
  y: unknown,
  options: MultiScaleSsimOptions,
): tf.Tensor1D {
  const o = checkCommon(owner, options);
  const weights = checkScaleWeights(owner, options.scale_weights);
  const [a, b] = checkImages(owner, x, y, o.data_range);
  const levels = weights.length;
  const minSize = (o.kernel_size - 1) * 2 ** (levels - 1) + 1;
  if (Math.min(a.shape[1], a.shape[2]) < minSize) {
    throw new ShapeError(
      `${owner}: the images must be at least ${minSize}×${minSize} pixels for ${levels} scales and kernel_size ${o.kernel_size} ((kernel_size − 1)·2^(scales − 1) + 1), got ${sizeText(a)}`,
    );
  }
  return tf.tidy(() => {
    let xs = tf.div(a, o.data_range) as tf.Tensor4D;
    let ys = tf.div(b, o.data_range) as tf.Tensor4D;
    let product: tf.Tensor | null = null;
    for (let i = 0; i < levels; i++) {
      if (i > 0) {
        xs = halve(xs);
        ys = halve(ys);
      }
      const [s, cs] = ssimPerChannel(xs, ys, o);
      // CS at every scale but the last, SSIM at the last; relu'd, to the scale's weight.
      const factor = reluPow(i === levels - 1 ? s : cs, weights[i]);
      product = product === null ? factor : tf.mul(product, factor);
    }
    return tf.mean(product as tf.Tensor, 1) as tf.Tensor1D;
  });
}

/**
 * MS-SSIM (piq `multi_scale_ssim(x, y, …, reduction='none')`): per image and channel, the
 * product over the scales of `relu(CS_i)^w_i` (the last scale: `relu(SSIM)^w`), averaged over
 * the channels. Between scales both images are replicate-padded on the top and left by
 * `max(H % 2, W % 2)` and 2×2 average-pooled, as piq. Where a CS or SSIM is ≤ 0 its factor is 0
 * with a zero gradient (never NaN). 1 for identical images.
 *
 * @param x N×H×W×C float32 in `[0, data_range]`, H and W at least
 *   `(kernel_size − 1)·2^(scales − 1) + 1` (161 for the defaults).
 * @param y the shape of x, in `[0, data_range]`.
 * @param options `kernel_size` 11, `kernel_sigma` 1.5, `data_range` 1, `k1` 0.01, `k2` 0.03,
 *   `scale_weights` (normalised when given; default the paper's five).
 * @returns N values, one per image.
 */
export function multiScaleSsim(
  x: tf.Tensor,
  y: tf.Tensor,
  options?: Options<MultiScaleSsimOptions>,
): tf.Tensor1D {
  return multiScaleSsimValues(
    'multiScaleSsim',
    x,
    y,
    checkOptions(
      'multiScaleSsim',
      3,
      options,
      'multiScaleSsim(x, y, {kernel_size, data_range, scale_weights, …})',
    ),
  );
}

const oddSize = z
  .int()
  .positive()
  .refine((k) => k % 2 === 1, 'an odd integer');

/** The keys `SSIMLoss` and `MultiScaleSSIMLoss` share (piq's, with its defaults). */
const commonKeys = {
  kernel_size: oddSize.default(11),
  kernel_sigma: z.number().positive().default(1.5),
  k1: z.number().positive().default(0.01),
  k2: z.number().positive().default(0.03),
  data_range: z.number().positive().default(1),
  reduction: reductionOption.default('mean'),
};

/** Options of `SSIMLoss`. */
export const ssimLossOptions = () =>
  lossOptions({ loss_name: 'loss_ssim' }, { ...commonKeys, downsample: z.boolean().default(true) });

/** Options of `MultiScaleSSIMLoss`. */
export const multiScaleSsimLossOptions = () =>
  lossOptions(
    { loss_name: 'loss_ms_ssim' },
    {
      ...commonKeys,
      scale_weights: z
        .array(z.number().nonnegative())
        .min(1)
        .refine((w) => w.reduce((a, b) => a + b, 0) > 0, 'a positive sum')
        .default([...MS_SSIM_SCALE_WEIGHTS]),
    },
  );

/** `1 − values`, reduced: N values for `'none'`, else their mean or sum. */
function reduceLoss(values: tf.Tensor1D, reduction: Reduction): tf.Tensor {
  const loss = tf.sub(1, values);
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? tf.sum(loss) : tf.mean(loss);
}

/**
 * `SSIMLoss` (piq): `loss_weight · reduce(1 − ssim(x, y))`, reduced over the images. Config:
 * `kernel_size` 11, `kernel_sigma` 1.5, `k1` 0.01, `k2` 0.03, `downsample` true, `data_range` 1,
 * `reduction` `'mean'` (`none|mean|sum`), `loss_weight` 1.0, `loss_name` `'loss_ssim'`.
 * `'sum'` is `Σ(1 − ssim)` as piq documents it (piq's code returns `1 − Σ ssim`, which differs by
 * the constant N − 1 and has the same gradient).
 */
export class SSIMLoss extends LossModule<ReturnType<typeof ssimLossOptions>> {
  static override readonly lossType = 'SSIMLoss';
  static override readonly options = ssimLossOptions();

  /**
   * @param x N×H×W×C in `[0, data_range]`.
   * @param y the shape of x.
   * @returns a scalar, or N values for `'none'`.
   */
  forward(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
    const { reduction, loss_weight: _w, loss_name: _n, ...options } = this.cfg;
    return this.scaled(() => reduceLoss(ssimValues(this.lossType, x, y, options), reduction));
  }
}

/**
 * `MultiScaleSSIMLoss` (piq): `loss_weight · reduce(1 − multiScaleSsim(x, y))`. Config as
 * `SSIMLoss` without `downsample`, plus `scale_weights` (default the paper's five; always
 * normalised to sum 1, as piq's class passes its weights on), `loss_name` `'loss_ms_ssim'`.
 */
export class MultiScaleSSIMLoss extends LossModule<ReturnType<typeof multiScaleSsimLossOptions>> {
  static override readonly lossType = 'MultiScaleSSIMLoss';
  static override readonly options = multiScaleSsimLossOptions();

  /**
   * @param x N×H×W×C in `[0, data_range]`, H and W at least
   *   `(kernel_size − 1)·2^(scales − 1) + 1`.
   * @param y the shape of x.
   * @returns a scalar, or N values for `'none'`.
   */
  forward(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
    const { reduction, loss_weight: _w, loss_name: _n, ...options } = this.cfg;
    return this.scaled(() =>
      reduceLoss(multiScaleSsimValues(this.lossType, x, y, options), reduction),
    );
  }
}
