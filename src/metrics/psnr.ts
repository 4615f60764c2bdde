/**
 * PSNR, MMagic's `PSNR` metric (mmagic/evaluation/metrics/psnr.py, function `psnr`): the
 * peak signal-to-noise ratio of 0–255 images, per image.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptions, type Options } from '../core/validate.ts';
import {
  checkImagePair,
  checkTransformOptions,
  type ImageTransformOptions,
  imageTransform,
} from './images.ts';

/**
 * PSNR of each image pair (MMagic `psnr(img1, img2, crop_border, input_order='HWC', convert_to)`,
 * one image at a time): after {@link imageTransform} (`convert_to: 'Y'` and `crop_border`),
 * `mse = mean((pred − gt)²)` over every pixel and channel, and
 *
 * `psnr = 20 · log10(255 / √mse)` dB,
 *
 * `Infinity` for identical images (MMagic's `float('inf')`; a mean over images that holds one is
 * `Infinity` too, as MMagic's average, and `JSON.stringify` writes it as `null`). MMagic's
 * `PSNR` metric reports the mean of these values over the images.
 *
 * @param pred N×H×W×C float32 in `[0, 255]` (C = 1 or 3; RGB for `convert_to: 'Y'`), not rounded.
 * @param gt the shape of `pred`, in `[0, 255]`.
 * @param options `crop_border` 0 (at least 1 pixel must remain), `convert_to` `null` or `'Y'`.
 * @returns N numbers in dB.
 */
export function psnr(
  pred: tf.Tensor,
  gt: tf.Tensor,
  options?: Options<ImageTransformOptions>,
): number[] {
  const owner = 'psnr';
  const o = checkOptions(owner, 3, options, 'psnr(pred, gt, {crop_border, convert_to})');
  const [a, b] = checkImagePair(owner, pred, gt);
  const t = checkTransformOptions(owner, a.shape, o, 1);
  const mse = tf.tidy(() =>
    tf.mean(tf.squaredDifference(imageTransform(a, t), imageTransform(b, t)), [1, 2, 3]).dataSync(),
  );
  return Array.from(mse, (m) =>
    m === 0 ? Number.POSITIVE_INFINITY : 20 * Math.log10(255 / Math.sqrt(m)),
  );
}
