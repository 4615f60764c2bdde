import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../core/errors.ts';
import { checkTensor } from '../core/validate.ts';
import { adaptiveAvgResample, avgPoolResample, resampleAxes } from './resize.ts';

/**
 * Adaptive average pooling as PyTorch's `AdaptiveAvgPool2d((outH, outW))`: output (i, j) averages
 * rows `[floor(i·H/outH), ceil((i+1)·H/outH))` and the same for columns, so windows are uneven
 * when the sizes do not divide (FaceId's 188 → 112) and repeat pixels when upsampling (16 → 256).
 * Written as two matrix products, so every order of derivative is exact.
 *
 * @param x N×H×W×C.
 * @param size `[outH, outW]`.
 * @returns N×outH×outW×C.
 */
export function adaptiveAvgPool2d(x: tf.Tensor, size: [number, number]): tf.Tensor4D {
  return resampleAxes('adaptiveAvgPool2d', x, (n, i) => adaptiveAvgResample(n, size[i]));
}

/**
 * Average pooling as PyTorch's `AvgPool2d(kernel, stride)` (no padding, floor mode).
 *
 * @param x N×H×W×C. @returns N×floor((H−k)/s+1)×floor((W−k)/s+1)×C.
 */
export function avgPool2d(x: tf.Tensor, kernel: number, stride = kernel): tf.Tensor4D {
  return resampleAxes('avgPool2d', x, (n) => avgPoolResample(n, kernel, stride));
}

/** PyTorch's output size of a max-pool along one axis (no padding). */
export function poolOutputSize(
  size: number,
  kernel: number,
  stride: number,
  ceilMode: boolean,
): number {
  if (!ceilMode) return Math.floor((size - kernel) / stride) + 1;
  let out = Math.ceil((size - kernel) / stride) + 1;
  // PyTorch drops a last window that would start beyond the input.
  if ((out - 1) * stride >= size) out -= 1;
  return out;
}

/**
 * Max pooling as PyTorch's `MaxPool2d(kernel, stride, ceil_mode)` with no padding: in ceil mode
 * the last window may hang over the edge and takes the max of the pixels it covers. The input is
 * padded with −∞ (ceil mode) or cropped to the rows and columns the windows read, then pooled
 * with `tf.maxPool`, whose gradient genloss registers (src/autodiff): differentiable at every
 * order, the first maximum of a window taking the gradient, as PyTorch.
 *
 * @param x N×H×W×C.
 * @returns N×H'×W'×C with H' = `poolOutputSize(H, kernel, stride, ceilMode)`.
 */
export function maxPool2d(
  x: tf.Tensor,
  kernel: number,
  stride = kernel,
  ceilMode = false,
): tf.Tensor4D {
  const t = checkTensor('maxPool2d', 'x', x, 4);
  const [n, h, w, c] = t.shape as number[];
  const oh = poolOutputSize(h, kernel, stride, ceilMode);
  const ow = poolOutputSize(w, kernel, stride, ceilMode);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(
      `maxPool2d: kernel ${kernel} is larger than the input [${t.shape.join(', ')}] (output ${oh}×${ow})`,
    );
  }
  // The oh windows read (oh − 1)·stride + kernel rows: pad with −∞ up to that (ceil mode), or
  // crop the rows no window reads, so that a valid max-pool has exactly oh×ow windows.
  const needH = (oh - 1) * stride + kernel;
  const needW = (ow - 1) * stride + kernel;
  return tf.tidy(() => {
    let p: tf.Tensor4D = t as tf.Tensor4D;
    if (needH > h || needW > w) {
      p = tf.pad(
        p,
        [
          [0, 0],
          [0, Math.max(needH - h, 0)],
          [0, Math.max(needW - w, 0)],
          [0, 0],
        ],
        Number.NEGATIVE_INFINITY,
      );
    }
    if (needH < p.shape[1] || needW < p.shape[2])
      p = tf.slice(p, [0, 0, 0, 0], [n, needH, needW, c]);
    return tf.maxPool(p, kernel, stride, 'valid');
  });
}
