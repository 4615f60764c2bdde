/**
 * SSIM, MMagic's `SSIM` metric (mmagic/evaluation/metrics/ssim.py, functions `ssim` and `_ssim`,
 * which match Wang et al.'s MATLAB code): structural similarity of 0–255 images, per image.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptions, type Options } from '../core/validate.ts';
import { ssim } from '../losses/ssim.ts';
import {
  checkImagePair,
  checkTransformOptions,
  type ImageTransformOptions,
  imageTransform,
} from './images.ts';

/** The side of MMagic's SSIM window (`cv2.getGaussianKernel(11, 1.5)`). */
const WINDOW = 11;

/**
 * SSIM of each image pair (MMagic `ssim(img1, img2, crop_border, input_order='HWC',
 * convert_to)`): after {@link imageTransform} (`convert_to: 'Y'`, `crop_border`), per channel,
 * with the 11×11 Gaussian window of σ 1.5 (`cv2.getGaussianKernel` outer product, normalised)
 * applied with no padding (MMagic's `cv2.filter2D(…)[5:-5, 5:-5]` keeps only the positions the
 * border did not touch),
 *
 * `ssim = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))`,
 * `C1 = (0.01·255)²`, `C2 = (0.03·255)²`,
 *
 * averaged over the valid positions, then over the channels. MMagic's `SSIM` metric reports the
 * mean of these values over the images.
 *
 * This is not genloss's `ssim` (piq's differentiable SSIM in `src/losses/ssim.ts`, on
 * `[0, data_range]` images with an average-pool downsampling step), though the formula is the
 * same: dividing the images by 255 turns MMagic's constants into piq's `k1² = 0.01²`,
 * `k2² = 0.03²`, so this metric runs piq's per-channel code with `data_range: 255` and
 * `downsample: false`. Float32, with the moments centred on each image's mean (MMagic's cv2 code
 * takes `E[x²] − μ²` in float32 at 0–255 scale, which loses digits on flat regions).
 *
 * @param pred N×H×W×C float32 in `[0, 255]` (C = 1 or 3; RGB for `convert_to: 'Y'`), at least
 *   11×11 after the crop.
 * @param gt the shape of `pred`, in `[0, 255]`.
 * @param options `crop_border` 0, `convert_to` `null` or `'Y'`.
 * @returns N numbers, 1 for identical images.
 */
export function ssimMetric(
  pred: tf.Tensor,
  gt: tf.Tensor,
  options?: Options<ImageTransformOptions>,
): number[] {
  const owner = 'ssimMetric';
  const o = checkOptions(owner, 3, options, 'ssimMetric(pred, gt, {crop_border, convert_to})');
  const [a, b] = checkImagePair(owner, pred, gt);
  const t = checkTransformOptions(owner, a.shape, o, WINDOW);
  const values = tf.tidy(() =>
    ssim(imageTransform(a, t), imageTransform(b, t), {
      kernel_size: WINDOW,
      kernel_sigma: 1.5,
      data_range: 255,
      downsample: false,
    }),
  );
  const out = Array.from(values.dataSync());
  values.dispose();
  return out;
}
