import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { registerGradients } from '../../../src/autodiff/index.ts';
import { points } from '../points.ts';

before(async () => {
  await tf.setBackend('cpu');
  registerGradients();
});

type Resize = (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * `Jᵀs` with the dense Jacobian `J` of `resize` read off the forward kernel one unit input at a
 * time: the reference the first-order gradient must equal (resizing is linear).
 */
function denseAdjoint(resize: Resize, shape: number[], s: Float32Array): Float64Array {
  const size = shape.reduce((p, q) => p * q, 1);
  const out = new Float64Array(size);
  for (let k = 0; k < size; k++) {
    const column = tf.tidy(() =>
      resize(tf.oneHot(k, size).reshape(shape).toFloat() as tf.Tensor4D),
    );
    out[k] = (column.dataSync() as Float32Array).reduce((acc, v, r) => acc + v * s[r], 0);
    column.dispose();
  }
  return out;
}

const CASES: [string, number[], Resize][] = [
  [
    'bilinear halfPixelCenters up',
    [2, 3, 4, 2],
    (x) => tf.image.resizeBilinear(x, [6, 7], false, true),
  ],
  [
    'bilinear halfPixelCenters down',
    [2, 5, 5, 1],
    (x) => tf.image.resizeBilinear(x, [3, 2], false, true),
  ],
  ['bilinear alignCorners', [2, 3, 4, 2], (x) => tf.image.resizeBilinear(x, [6, 7], true, false)],
  ['bilinear legacy', [2, 3, 4, 2], (x) => tf.image.resizeBilinear(x, [6, 7])],
  ['nearest legacy up', [2, 3, 4, 2], (x) => tf.image.resizeNearestNeighbor(x, [6, 8])],
  ['nearest legacy down', [2, 5, 5, 1], (x) => tf.image.resizeNearestNeighbor(x, [2, 3])],
  [
    'nearest halfPixelCenters',
    [2, 3, 4, 2],
    (x) => tf.image.resizeNearestNeighbor(x, [7, 6], false, true),
  ],
  [
    'nearest alignCorners',
    [2, 3, 4, 2],
    (x) => tf.image.resizeNearestNeighbor(x, [7, 6], true, false),
  ],
];

describe('first-order resize gradients equal the dense adjoint of the forward kernel (batch 2)', () => {
  for (const [name, shape, resize] of CASES) {
    it(name, () => {
      const x = points(shape, 1, { kinks: [] }) as tf.Tensor4D;
      const y = resize(x);
      const s = points(y.shape, 2, { kinks: [] });
      const want = denseAdjoint(resize, shape, s.dataSync() as Float32Array);
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(resize(v as tf.Tensor4D), s)))(x);
      const got = grad.dataSync();
      const scale = Math.max(...want.map(Math.abs));
      const err = Math.max(...want.map((w, k) => Math.abs(w - got[k])));
      assert.ok(err <= 1e-6 * scale, `${name}: max error ${err} (scale ${scale})`);
      tf.dispose([x, y, s, grad]);
    });
  }
});
