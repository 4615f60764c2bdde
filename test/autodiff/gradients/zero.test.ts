import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { registerGradients } from '../../../src/autodiff/index.ts';

before(async () => {
  await tf.setBackend('cpu');
  registerGradients();
});

const a = () =>
  tf.tensor2d([
    [0.5, -1, 2],
    [3, 0, -2],
  ]);
const b = () => tf.tensor1d([0.5, 1, -2]);

const comparisons: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
  ['equal', tf.equal],
  ['notEqual', tf.notEqual],
  ['greater', tf.greater],
  ['greaterEqual', tf.greaterEqual],
  ['less', tf.less],
  ['lessEqual', tf.lessEqual],
  ['logicalAnd', (x, y) => tf.logicalAnd(tf.greater(x, 0), tf.greater(y, 0))],
  ['logicalOr', (x, y) => tf.logicalOr(tf.greater(x, 0), tf.greater(y, 0))],
  ['logicalXor', (x, y) => tf.logicalXor(tf.greater(x, 0), tf.greater(y, 0))],
  ['logicalNot', (x, y) => tf.logicalNot(tf.greater(x, y))],
  ['all', (x, y) => tf.all(tf.greater(x, y), 1)],
  ['any', (x, y) => tf.any(tf.greater(x, y), 1)],
];

describe('comparison and logical kernels have float32 zero gradients', () => {
  for (const [name, op] of comparisons) {
    it(name, () => {
      const [x, y] = [a(), b()];
      const grads = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.cast(op(p, q), 'float32')))([
        x,
        y,
      ]);
      assert.deepEqual(grads[0].shape, x.shape);
      assert.deepEqual(grads[1].shape, y.shape);
      for (const g of grads) {
        assert.equal(g.dtype, 'float32');
        assert.ok(Array.from(g.dataSync()).every((v) => v === 0));
      }
      tf.dispose([x, y, ...grads]);
    });
  }

  it('lets double backprop pass through a where(greater(x, 0), …) mask', () => {
    const x = tf.tensor1d([-1, 0.5, 2]);
    // d/dx of Σ (d/dx Σ where(x > 0, x³, −x))²: 2·3x²·6x = 36x³ where x > 0, and 0 where x < 0.
    const h = tf.grad((v: tf.Tensor) => {
      const g = tf.grad((u: tf.Tensor) =>
        tf.sum(tf.where(tf.greater(u, 0), tf.pow(u, 3), tf.neg(u))),
      )(v);
      return tf.sum(tf.square(g));
    })(x);
    const got = Array.from(h.dataSync());
    const want = [0, 36 * 0.125, 36 * 8];
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-4);
    tf.dispose([x, h]);
  });
});
