import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { checkSecondOrder, registerGradients } from '../../src/autodiff/index.ts';
import { GenlossError } from '../../src/core/errors.ts';
import { points } from './points.ts';

before(async () => {
  await tf.setBackend('cpu');
  registerGradients();
});

/** `x²` with a chosen gradient function, to feed the checker known-bad gradients. */
const squareWithGrad = (gradFunc: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor) =>
  tf.customGrad((...args) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([x]);
    return { value: tf.square(x), gradFunc: (dy, [saved]) => gradFunc(dy, saved) };
  }) as (x: tf.Tensor) => tf.Tensor;

describe('checkSecondOrder', () => {
  it('passes a correct function and reports per-input errors', () => {
    const [x, w] = [points([1, 4, 4, 2], 1), tf.mul(0.5, points([3, 3, 2, 2], 2))];
    const report = checkSecondOrder(
      (a, b) => tf.leakyRelu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), 0.2),
      [x, w],
      { eps: 1e-3 },
    );
    assert.equal(report.firstOrder.length, 2);
    assert.equal(report.secondOrder.length, 2);
    assert.ok(report.maxRelError < 2e-3, JSON.stringify(report));
    tf.dispose([x, w]);
  });

  it('catches a wrong first-order gradient', () => {
    const x = points([6], 3);
    const f = squareWithGrad((dy, v) => tf.mul(dy, tf.mul(3, v)));
    const report = checkSecondOrder(f, [x]);
    assert.ok(report.firstOrder[0] > 0.3);
    x.dispose();
  });

  it('catches a gradient that is right at first order but detached from the tape', () => {
    const x = points([6], 4);
    // The saved-output bug TF.js has for sigmoid/tanh/exp: a constant copy of x in the gradient.
    const f = squareWithGrad((dy, v) => tf.mul(dy, tf.mul(2, tf.tensor(v.dataSync(), v.shape))));
    const report = checkSecondOrder(f, [x]);
    assert.ok(report.firstOrder[0] < 1e-3);
    assert.ok(report.secondOrder[0] > 0.3);
    x.dispose();
  });

  it('perturbs and restores tf.Variable inputs read by fn itself', () => {
    const v = tf.variable(points([3, 2], 5));
    const before = Array.from(v.dataSync());
    const x = points([4, 3], 6);
    const report = checkSecondOrder((a) => tf.tanh(tf.matMul(a, v)), [x, v], { entries: 4 });
    assert.ok(report.maxRelError < 2e-3, JSON.stringify(report));
    assert.deepEqual(Array.from(v.dataSync()), before);
    tf.dispose([v, x]);
  });

  it('leaves the tensor count unchanged, call after call', () => {
    const x = points([1, 4, 4, 2], 7);
    const fn = (a: tf.Tensor) => tf.maxPool(tf.sigmoid(a) as tf.Tensor4D, 2, 2, 'valid');
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      checkSecondOrder(fn, [x]);
      assert.equal(tf.memory().numTensors, count);
    }
    x.dispose();
  });

  it('rejects bad arguments with a GenlossError', () => {
    const x = points([2], 8);
    const int = tf.tensor1d([1, 2], 'int32');
    const disposed = points([2], 9);
    disposed.dispose();
    const cases: [string, () => unknown, RegExp][] = [
      ['no inputs', () => checkSecondOrder((a) => a, []), /non-empty array/],
      [
        'int32 input',
        () => checkSecondOrder((a) => a, [int]),
        /inputs\[0\] must be a live float32 tensor, got a int32 tensor/,
      ],
      ['disposed input', () => checkSecondOrder((a) => a, [disposed]), /disposed tensor/],
      [
        'bad eps',
        () => checkSecondOrder((a) => a, [x], { eps: 0 }),
        /eps must be a positive number/,
      ],
      [
        'bad seed',
        () => checkSecondOrder((a) => a, [x], { seed: -1 }),
        /seed must be a non-negative integer/,
      ],
      [
        'bad entries',
        () => checkSecondOrder((a) => a, [x], { entries: 0 }),
        /entries must be at least 1/,
      ],
      [
        'non-float output',
        () => checkSecondOrder((a) => tf.greater(a, 0), [x]),
        /fn must return a float32 tensor, got a bool tensor/,
      ],
    ];
    for (const [what, call, message] of cases) {
      assert.throws(
        call,
        (e: unknown) => e instanceof GenlossError && message.test(e.message),
        what,
      );
    }
    tf.dispose([x, int]);
  });
});
