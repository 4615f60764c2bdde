/**
 * safeGrad / safeGrads / safeVariableGrads: TF.js's results on success, and nothing left behind
 * (tf.memory().numTensors unchanged) when the differentiated function, the engine's checks or the
 * backward pass throw — also nested in another gradient call.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  freeTapeOnError,
  safeGrad,
  safeGrads,
  safeVariableGrads,
} from '../../src/autodiff/safe-gradients.ts';
import { assertClose, assertNoLeak } from '../helpers/tensors.ts';

/** Asserts that `call` throws `want` (the very object) 100 times, leaving numTensors as it was. */
function assertFailsWithoutLeak(call: () => unknown, want: (e: unknown) => boolean): void {
  const before = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) assert.throws(call, want);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked by 100 failed calls');
}

describe('safe gradients', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const boom = new Error('boom');
  /** Runs kernels that save tensors for their gradients (conv, square, exp), then throws. */
  const failing = (x: tf.Tensor): tf.Tensor => {
    const k = tf.ones([3, 3, x.shape[3] as number, 2]) as tf.Tensor4D;
    tf.exp(tf.square(tf.conv2d(x as tf.Tensor4D, k, 1, 'same')));
    throw boom;
  };
  const isBoom = (e: unknown) => e === boom;

  test("on success: tf.grad's, tf.grads' and tf.variableGrads' values, and no leak", () => {
    const x = tf.tensor4d([0.5, -1, 2, 0.25], [1, 2, 2, 1]);
    const v = tf.variable(tf.tensor1d([1, -2, 3]));
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.square(t), tf.sin(t)));
    tf.tidy(() => {
      assertClose(safeGrad(f)(x), tf.grad(f)(x));
      const [ga, gb] = safeGrads((a, b) => tf.sum(tf.mul(a, b)))([x, tf.square(x)]);
      assertClose(ga, tf.square(x));
      assertClose(gb, x);
      const { value, grads } = safeVariableGrads(() => tf.sum(tf.square(v)), [v]);
      assertClose(value, 14);
      assertClose(grads[v.name], [2, -4, 6]);
    });
    assertNoLeak(() => safeGrad(f)(x));
    assertNoLeak(() => {
      const r = safeVariableGrads(() => tf.sum(tf.square(v)), [v]);
      return [r.value, ...Object.values(r.grads)];
    });
    v.dispose();
    x.dispose();
  });

  test('a function that throws: the same error, and 100 failing calls of each leave nothing', () => {
    const x = tf.ones([1, 4, 4, 3]);
    const v = tf.variable(tf.ones([1, 4, 4, 3]));
    assertFailsWithoutLeak(() => safeGrad(failing)(x), isBoom);
    assertFailsWithoutLeak(() => safeGrads((a) => failing(a))([x]), isBoom);
    assertFailsWithoutLeak(() => safeVariableGrads(() => failing(v) as tf.Scalar, [v]), isBoom);
    v.dispose();
    x.dispose();
  });

  test("the engine's own errors (no path from x, not a scalar) leave nothing", () => {
    const x = tf.ones([1, 4, 4, 3]);
    const y = tf.ones([1, 4, 4, 3]);
    const v = tf.variable(tf.ones([2]));
    const noPath = (e: unknown) =>
      e instanceof Error && e.message.startsWith('Cannot compute gradient of y=f(x)');
    assertFailsWithoutLeak(() => safeGrad(() => tf.sum(tf.exp(y)))(x), noPath);
    assertFailsWithoutLeak(
      () => safeVariableGrads(() => tf.exp(tf.square(v)) as tf.Tensor as tf.Scalar, [v]),
      (e) => e instanceof Error && /must return a scalar/.test(e.message),
    );
    v.dispose();
    tf.dispose([x, y]);
  });

  test('a gradient that throws in the backward pass leaves nothing', () => {
    const x = tf.ones([2, 3]);
    const brokenGradient = tf.customGrad((t, save) => {
      (save as tf.GradSaveFunc)([t as tf.Tensor]);
      return {
        value: tf.square(t as tf.Tensor),
        gradFunc: () => {
          throw boom;
        },
      };
    }) as (t: tf.Tensor) => tf.Tensor;
    assertFailsWithoutLeak(() => safeGrad((t) => tf.sum(tf.exp(brokenGradient(t))))(x), isBoom);
    x.dispose();
  });

  test('nested: an inner failure caught inside an outer gradient (safe or plain) frees only its own tape', () => {
    const x = tf.tensor4d([0.5, -1, 2, 0.25], [1, 2, 2, 1]);
    const outer = (t: tf.Tensor) => {
      assert.throws(() => safeGrad(failing)(t), isBoom);
      return tf.sum(tf.mul(tf.square(t), t));
    };
    const want = tf.mul(3, tf.square(x));
    for (const grad of [safeGrad(outer), tf.grad(outer)]) {
      tf.tidy(() => assertClose(grad(x), want));
      assertNoLeak(() => grad(x));
    }
    // The outer call's own recording survives the inner failure: its second order is right.
    tf.tidy(() => assertClose(safeGrad((t) => tf.sum(safeGrad(outer)(t)))(x), tf.mul(6, x)));
    tf.dispose([x, want]);
  });

  test('freeTapeOnError returns what the call returns and frees what the call does not', () => {
    const before = tf.memory().numTensors;
    const kept = freeTapeOnError(() => {
      tf.ones([3]);
      return { a: tf.zeros([2]), b: [tf.ones([1])] };
    });
    assert.equal(tf.memory().numTensors, before + 2);
    tf.dispose([kept.a, ...kept.b]);
  });
});
