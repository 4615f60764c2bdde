import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../core/errors.ts';
import { checkTensor } from '../core/validate.ts';

/**
 * A 1-D linear resampling operator: `out[i] = Σ_j m[i][j] · in[j]`, stored row-major
 * (`outSize × inSize`). Resizes and poolings that act on H and W separately are two of these;
 * applying them with matrix products keeps every derivative (of any order) exact in TF.js.
 */
export interface Resample1d {
  readonly outSize: number;
  readonly inSize: number;
  readonly m: Float64Array;
}

function checkSizes(owner: string, inSize: number, outSize: number): void {
  if (!Number.isInteger(outSize) || outSize < 1 || !Number.isInteger(inSize) || inSize < 1) {
    throw new ShapeError(`${owner}: sizes must be positive integers, got ${inSize} → ${outSize}`);
  }
}

/** The product `a ∘ b` (apply b, then a). */
export function composeResample(a: Resample1d, b: Resample1d): Resample1d {
  if (a.inSize !== b.outSize) {
    throw new ShapeError(`composeResample: ${b.outSize} outputs feed ${a.inSize} inputs`);
  }
  const m = new Float64Array(a.outSize * b.inSize);
  for (let i = 0; i < a.outSize; i++) {
    for (let k = 0; k < a.inSize; k++) {
      const w = a.m[i * a.inSize + k];
      if (w === 0) continue;
      for (let j = 0; j < b.inSize; j++) m[i * b.inSize + j] += w * b.m[k * b.inSize + j];
    }
  }
  return { outSize: a.outSize, inSize: b.inSize, m };
}

/** Keys's cubic convolution weights for the 4 taps at offsets −1, 0, 1, 2 from floor(src). */
function cubicWeights(t: number, a: number): [number, number, number, number] {
  const near = (x: number) => ((a + 2) * x - (a + 3)) * x * x + 1;
  const far = (x: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/**
 * PyTorch's bicubic interpolation along one axis (`F.interpolate(mode='bicubic',
 * align_corners=False)` with a target size): source coordinate `(i + 0.5)·in/out − 0.5` (not
 * clamped), Keys's kernel with A = −0.75, taps clamped to the border.
 */
export function bicubicResample(inSize: number, outSize: number, alignCorners = false): Resample1d {
  checkSizes('bicubicResample', inSize, outSize);
  const m = new Float64Array(outSize * inSize);
  const scale = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = alignCorners ? i * scale : (i + 0.5) * scale - 0.5;
    const base = Math.floor(src);
    const w = cubicWeights(src - base, -0.75);
    for (let k = 0; k < 4; k++) {
      const j = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
      m[i * inSize + j] += w[k];
    }
  }
  return { outSize, inSize, m };
}

/**
 * PyTorch's adaptive average pooling along one axis (`AdaptiveAvgPool2d`): output i averages the
 * inputs `[floor(i·in/out), ceil((i+1)·in/out))`. Windows are uneven when out does not divide
 * in, and for out > in they repeat inputs (replication-like upsampling).
 */
export function adaptiveAvgResample(inSize: number, outSize: number): Resample1d {
  checkSizes('adaptiveAvgResample', inSize, outSize);
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    for (let j = start; j < end; j++) m[i * inSize + j] = 1 / (end - start);
  }
  return { outSize, inSize, m };
}

/** PyTorch's nearest-neighbour resize along one axis (`mode='nearest'`): `src = floor(i·in/out)`. */
export function nearestResample(inSize: number, outSize: number): Resample1d {
  checkSizes('nearestResample', inSize, outSize);
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    m[i * inSize + Math.min(Math.floor((i * inSize) / outSize), inSize - 1)] = 1;
  }
  return { outSize, inSize, m };
}

/**
 * PyTorch's `AvgPool2d(kernel, stride)` along one axis, no padding, floor mode:
 * `out = floor((in − kernel)/stride) + 1` windows `[i·stride, i·stride + kernel)`.
 */
export function avgPoolResample(inSize: number, kernel: number, stride = kernel): Resample1d {
  if (kernel > inSize) {
    throw new ShapeError(`avgPoolResample: kernel ${kernel} is larger than the input ${inSize}`);
  }
  const outSize = Math.floor((inSize - kernel) / stride) + 1;
  checkSizes('avgPoolResample', inSize, outSize);
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    for (let j = i * stride; j < i * stride + kernel; j++) m[i * inSize + j] = 1 / kernel;
  }
  return { outSize, inSize, m };
}

function transposedTensor(r: Resample1d): tf.Tensor2D {
  const t = new Float32Array(r.inSize * r.outSize);
  for (let i = 0; i < r.outSize; i++) {
    for (let j = 0; j < r.inSize; j++) t[j * r.outSize + i] = r.m[i * r.inSize + j];
  }
  return tf.tensor2d(t, [r.inSize, r.outSize]);
}

/**
 * Applies a resampling along H (`rows`) and one along W (`cols`) to an N×H×W×C tensor, as two
 * matrix products: linear in x, so its gradients of every order are exact.
 *
 * @returns N×rows.outSize×cols.outSize×C.
 */
export function resampleSeparable(
  x: tf.Tensor,
  rows: Resample1d,
  cols: Resample1d,
  owner = 'resampleSeparable',
): tf.Tensor4D {
  const t = checkTensor(owner, 'x', x, 4);
  const [n, h, w, c] = t.shape as number[];
  if (h !== rows.inSize || w !== cols.inSize) {
    throw new ShapeError(
      `${owner}: 'x' must be N×${rows.inSize}×${cols.inSize}×C for this resampling, got [${t.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => {
    // [N, W, C, H] · [H, H'] → [N, W, C, H']
    const alongH = tf.matMul(
      tf.reshape(tf.transpose(t, [0, 2, 3, 1]), [n * w * c, h]),
      transposedTensor(rows),
    );
    // [N, H', C, W] · [W, W'] → [N, H', C, W']
    const byW = tf.transpose(tf.reshape(alongH, [n, w, c, rows.outSize]), [0, 3, 2, 1]);
    const alongW = tf.matMul(tf.reshape(byW, [n * rows.outSize * c, w]), transposedTensor(cols));
    return tf.transpose(
      tf.reshape(alongW, [n, rows.outSize, c, cols.outSize]),
      [0, 1, 3, 2],
    ) as tf.Tensor4D;
  });
}

/**
 * {@link resampleSeparable} of x (checked N×H×W×C) with `axis(H, 0)` along H and `axis(W, 1)`
 * along W: the operators built from x's own sizes. `owner` names the caller in errors.
 */
export function resampleAxes(
  owner: string,
  x: tf.Tensor,
  axis: (inSize: number, index: 0 | 1) => Resample1d,
): tf.Tensor4D {
  const t = checkTensor(owner, 'x', x, 4);
  return resampleSeparable(t, axis(t.shape[1] as number, 0), axis(t.shape[2] as number, 1), owner);
}

/**
 * Bicubic resize as PyTorch's `F.interpolate(x, size, mode='bicubic', align_corners)`
 * (A = −0.75, border-clamped taps; align_corners false by default). No clamping of the result:
 * bicubic overshoots, as in PyTorch.
 *
 * @param x N×H×W×C.
 * @param size `[outH, outW]`.
 * @returns N×outH×outW×C.
 */
export function resizeBicubic(
  x: tf.Tensor,
  size: [number, number],
  alignCorners = false,
): tf.Tensor4D {
  return resampleAxes('resizeBicubic', x, (n, i) => bicubicResample(n, size[i], alignCorners));
}

/**
 * Nearest-neighbour resize as PyTorch's `F.interpolate(x, size, mode='nearest')`
 * (`src = floor(i·in/out)`, which differs from `tf.image.resizeNearestNeighbor`).
 *
 * @param x N×H×W×C. @param size `[outH, outW]`. @returns N×outH×outW×C.
 */
export function resizeNearest(x: tf.Tensor, size: [number, number]): tf.Tensor4D {
  return resampleAxes('resizeNearest', x, (n, i) => nearestResample(n, size[i]));
}
