import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../core/errors.ts';
import { checkTensor } from '../core/validate.ts';
import { adaptiveAvgResample, avgPoolResample, resampleSeparable } from './resize.ts';

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
  const t = checkTensor('adaptiveAvgPool2d', 'x', x, 4);
  return resampleSeparable(
    t,
    adaptiveAvgResample(t.shape[1] as number, size[0]),
    adaptiveAvgResample(t.shape[2] as number, size[1]),
    'adaptiveAvgPool2d',
  );
}

/**
 * Average pooling as PyTorch's `AvgPool2d(kernel, stride)` (no padding, floor mode).
 *
 * @param x N×H×W×C. @returns N×floor((H−k)/s+1)×floor((W−k)/s+1)×C.
 */
export function avgPool2d(x: tf.Tensor, kernel: number, stride = kernel): tf.Tensor4D {
  const t = checkTensor('avgPool2d', 'x', x, 4);
  return resampleSeparable(
    t,
    avgPoolResample(t.shape[1] as number, kernel, stride),
    avgPoolResample(t.shape[2] as number, kernel, stride),
    'avgPool2d',
  );
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
 * the last window may hang over the edge and takes the max of the pixels it covers. Built from
 * pad (−∞), slices, reshapes and `tf.max` over a stacked axis, whose gradients are themselves
 * differentiable (unlike `tf.maxPool`'s). Ties pass the gradient to every maximum (PyTorch picks
 * one); with real-valued features ties do not occur in practice.
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
  // Every tap (di, dj) reads rows di, di + stride, …: a slice of oh·stride rows reshaped to
  // [oh, stride] whose first column it keeps. So the input is padded (−∞) to
  // (kernel − 1) + oh·stride rows; the padding beyond the last window is never read.
  const needH = kernel === stride ? oh * stride : kernel - 1 + oh * stride;
  const needW = kernel === stride ? ow * stride : kernel - 1 + ow * stride;
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
    if (kernel === stride) {
      return tf.max(tf.reshape(p, [n, oh, kernel, ow, kernel, c]), [2, 4]) as tf.Tensor4D;
    }
    const taps: tf.Tensor[] = [];
    for (let di = 0; di < kernel; di++) {
      for (let dj = 0; dj < kernel; dj++) {
        const window = tf.slice(p, [0, di, dj, 0], [n, oh * stride, ow * stride, c]);
        const grouped = tf.reshape(window, [n, oh, stride, ow, stride, c]);
        taps.push(
          tf.reshape(tf.slice(grouped, [0, 0, 0, 0, 0, 0], [n, oh, 1, ow, 1, c]), [n, oh, ow, c]),
        );
      }
    }
    return tf.max(
      tf.concat(
        taps.map((tap) => tf.expandDims(tap, 0)),
        0,
      ),
      0,
    ) as tf.Tensor4D;
  });
}
