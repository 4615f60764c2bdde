/**
 * What MMagic's image metrics share (mmagic/evaluation/metrics/metrics_utils.py): the input
 * check (N×H×W×C float32 in `[0, 255]`) and `img_transform` (colour conversion to Y, border crop).
 */
import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { checkSameShape, checkTensor } from '../core/validate.ts';

/** The colour models `convert_to` accepts (MMagic lower-cases it): Y of YCbCr, or none. */
export type ConvertTo = 'Y' | 'y' | null;

/** The options of `img_transform` that genloss's PSNR and SSIM take (MMagic's keys and defaults). */
export interface ImageTransformOptions {
  /** Pixels cropped from each edge before the metric, a non-negative integer. Default 0. */
  crop_border?: number;
  /** `'Y'` (or `'y'`): compare the Y channel of YCbCr (RGB images only); `null`: as they are. */
  convert_to?: ConvertTo;
}

/**
 * Checks that `x` is a live float32 N×H×W×C tensor (C = 1 or 3) with every value in `[0, 255]`
 * (MMagic's metrics take 0–255 images), reading back two numbers; a `ShapeError` naming the
 * metric and the argument otherwise (an image in [0, 1] cannot be told apart and gives a wrong
 * number: scale it by 255 first).
 */
export function checkImage255(owner: string, arg: string, x: unknown): tf.Tensor4D {
  const t = checkTensor(owner, arg, x, 4) as tf.Tensor4D;
  const c = t.shape[3];
  if (c !== 1 && c !== 3) {
    throw new ShapeError(
      `${owner}: '${arg}' must have 1 (grey) or 3 (RGB) channels (NHWC), got ${describeValue(t)}`,
    );
  }
  const [min, max] = tf.tidy(() => tf.stack([tf.min(t), tf.max(t)]).dataSync());
  if (!(min >= 0 && max <= 255)) {
    const hint = min >= -1 && max <= 1 ? ' (an image in [-1, 1]? map it with (x + 1) · 127.5)' : '';
    throw new ShapeError(
      `${owner}: '${arg}' must be an image in [0, 255], got values in [${min}, ${max}]${hint}`,
    );
  }
  return t;
}

/** Checks pred and gt ({@link checkImage255}, one shape) and returns them typed. */
export function checkImagePair(
  owner: string,
  pred: unknown,
  gt: unknown,
): [tf.Tensor4D, tf.Tensor4D] {
  const a = checkImage255(owner, 'pred', pred);
  const b = checkImage255(owner, 'gt', gt);
  checkSameShape(owner, ['pred', a], ['gt', b]);
  return [a, b];
}

/**
 * Checks `crop_border` and `convert_to` for images of `shape` (N×H×W×C), so that at least
 * `minSide` pixels remain per side after the crop; a `ConfigError` naming the key otherwise.
 */
export function checkTransformOptions(
  owner: string,
  shape: readonly number[],
  { crop_border = 0, convert_to = null }: ImageTransformOptions,
  minSide: number,
): Required<ImageTransformOptions> {
  if (!Number.isInteger(crop_border) || crop_border < 0) {
    throw new ConfigError(
      `${owner}: 'crop_border' must be a non-negative integer, got ${describeValue(crop_border)}`,
    );
  }
  if (convert_to !== null && convert_to !== 'Y' && convert_to !== 'y') {
    throw new ConfigError(
      `${owner}: 'convert_to' must be 'Y' or null (MMagic's colour models), got ${describeValue(convert_to)}`,
    );
  }
  if (convert_to !== null && shape[3] !== 3) {
    throw new ShapeError(
      `${owner}: 'convert_to: ${convert_to}' needs RGB images (3 channels), got ${shape[3]} channel(s)`,
    );
  }
  const [h, w] = [shape[1], shape[2]];
  if (Math.min(h, w) - 2 * crop_border < minSide) {
    throw new ShapeError(
      `${owner}: the images must be at least ${minSide + 2 * crop_border}×${minSide + 2 * crop_border} pixels (${minSide} after 'crop_border' ${crop_border} on each edge), got ${h}×${w}`,
    );
  }
  return { crop_border, convert_to };
}

/** ITU-R BT.601 luma weights of `mmcv.rgb2ycbcr(y_only=True)`, for RGB in [0, 1] to Y in [16, 235]. */
const Y_WEIGHTS = [65.481, 128.553, 24.966];

/**
 * MMagic's `img_transform` on N×H×W×C images in `[0, 255]`: with `convert_to: 'Y'`,
 * `Y = 16 + (65.481·R + 128.553·G + 24.966·B) / 255` (N×H×W×1, in [16, 235]; mmcv's
 * `rgb2ycbcr(img / 255, y_only=True) · 255`); then `crop_border` pixels off each edge.
 *
 * MMagic's sample-wise metrics set `channel_order = 'BGR'` (its pipelines load images with cv2)
 * and so convert with `bgr2ycbcr`; genloss's images are RGB, so it takes `rgb2ycbcr`'s weights:
 * the same Y for the same picture. No rounding or clipping, as MMagic (it casts to float32).
 * Call inside `tf.tidy`.
 */
export function imageTransform(
  x: tf.Tensor4D,
  { crop_border, convert_to }: Required<ImageTransformOptions>,
): tf.Tensor4D {
  let t = x;
  if (convert_to !== null) {
    const luma = tf.sum(tf.mul(t, tf.tensor1d(Y_WEIGHTS.map((w) => w / 255))), 3, true);
    t = tf.add(luma, 16) as tf.Tensor4D;
  }
  if (crop_border > 0) {
    const [h, w] = [t.shape[1], t.shape[2]];
    t = tf.slice(
      t,
      [0, crop_border, crop_border, 0],
      [-1, h - 2 * crop_border, w - 2 * crop_border, -1],
    );
  }
  return t;
}
