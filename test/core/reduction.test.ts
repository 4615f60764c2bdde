import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  maskedLoss,
  maskReduceLoss,
  reduceLoss,
  ShapeError,
  weightedLoss,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose, assertNoLeak, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

describe('reduceLoss', () => {
  test("'none' returns the tensor itself; mean and sum reduce everything", () => {
    tf.tidy(() => {
      const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      assert.equal(reduceLoss(x, 'none'), x);
      assertClose(reduceLoss(x, 'mean'), 2.5);
      assertClose(reduceLoss(x, 'sum'), 10);
      assert.throws(() => reduceLoss(x, 'avg' as 'mean'), ConfigError);
    });
  });
});

describe("maskReduceLoss (MMagic's mask_reduce_loss, mmagic/models/losses/loss_wrapper.py)", () => {
  test('a 1- or C-channel weight: Σ(loss·w) / Σw over the expanded weight', () => {
    tf.tidy(() => {
      const loss = uniform([1, 4, 4, 3], 1);
      const w1 = tf.cast(tf.greater(uniform([1, 4, 4, 1], 2), 0.5), 'float32');
      const w3 = tf.tile(w1, [1, 1, 1, 3]);
      const want = tf.div(tf.sum(tf.mul(loss, w3)), tf.sum(w3));
      assertClose(maskReduceLoss(loss, { weight: w1 }), want);
      assertClose(maskReduceLoss(loss, { weight: w3 }), want);
    });
  });

  test('N = 2 with 3×3 and 2×2 masks: the denominator counts C = 3 channels', () => {
    tf.tidy(() => {
      const loss = uniform([2, 5, 5, 3], 3);
      const w = tf.stack([
        tf.pad(tf.ones([3, 3, 1]), [
          [0, 2],
          [0, 2],
          [0, 0],
        ]),
        tf.pad(tf.ones([2, 2, 1]), [
          [1, 2],
          [1, 2],
          [0, 0],
        ]),
      ]);
      const want = tf.div(tf.div(tf.sum(tf.mul(loss, w)), tf.sum(w)), 3);
      assertClose(maskReduceLoss(loss, { weight: w }), want);
    });
  });

  test("'none' with a weight is the weighted tensor; 'sum' is Σ loss·w", () => {
    tf.tidy(() => {
      const loss = uniform([2, 3, 3, 2], 4);
      const w = uniform([2, 3, 3, 1], 5);
      assertClose(maskReduceLoss(loss, { weight: w, reduction: 'none' }), tf.mul(loss, w));
      assertClose(maskReduceLoss(loss, { weight: w, reduction: 'sum' }), tf.sum(tf.mul(loss, w)));
    });
  });

  test('sample_wise averages per sample, counting empty samples in N', () => {
    tf.tidy(() => {
      const loss = tf.fill([2, 2, 2, 1], 3);
      const w = tf.stack([tf.ones([2, 2, 1]), tf.zeros([2, 2, 1])]);
      assertClose(maskReduceLoss(loss, { weight: w, sample_wise: true }), 1.5);
      assertClose(maskReduceLoss(loss, { weight: w }), 3);
      assertClose(maskReduceLoss(loss, { sample_wise: true }), 3, {
        what: 'ignored without a weight',
      });
    });
  });

  test('a wrong weight rank or channel count is a ShapeError', () => {
    tf.tidy(() => {
      const loss = uniform([1, 3, 3, 3], 6);
      assert.throws(() => maskReduceLoss(loss, { weight: tf.ones([1, 3, 3]) }), ShapeError);
      assert.throws(
        () => maskReduceLoss(loss, { weight: tf.ones([1, 3, 3, 2]) }),
        /maskReduceLoss: 'weight' must have shape \[1, 3, 3, 1\] or \[1, 3, 3, 3\], got \[1, 3, 3, 2\]/,
      );
    });
  });

  test('no tensors leak', () => {
    const loss = uniform([2, 3, 3, 3], 7);
    const w = uniform([2, 3, 3, 1], 8);
    assertNoLeak(() => maskReduceLoss(loss, { weight: w, sample_wise: true }));
    tf.dispose([loss, w]);
  });
});

describe('maskedLoss', () => {
  test('wraps an element-wise function with weight, reduction and sample_wise', () => {
    tf.tidy(() => {
      const cubed = maskedLoss((p, t) => tf.pow(tf.abs(tf.sub(p, t)), 3), 'cubedLoss');
      const p = uniform([2, 3, 3, 1], 9);
      const t = uniform([2, 3, 3, 1], 10);
      const w = uniform([2, 3, 3, 1], 11);
      const e = tf.pow(tf.abs(tf.sub(p, t)), 3);
      assertClose(cubed(p, t), tf.mean(e));
      assertClose(cubed(p, t, { weight: w, reduction: 'sum' }), tf.sum(tf.mul(e, w)));
      assert.throws(
        () => cubed(p, tf.zeros([2, 3, 3, 2])),
        /cubedLoss: 'target' must have the shape of 'pred'/,
      );
    });
  });

  test('typed extra options get their defaults', () => {
    tf.tidy(() => {
      const huber = maskedLoss<{ delta: number }>(
        (p, t, { delta }) => {
          const d = tf.abs(tf.sub(p, t));
          return tf.where(
            tf.less(d, delta),
            tf.mul(tf.square(d), 0.5 / delta),
            tf.sub(d, delta / 2),
          );
        },
        'huberLoss',
        { delta: 1 },
      );
      const p = tf.tensor4d([0, 3], [1, 1, 2, 1]);
      const t = tf.zeros([1, 1, 2, 1]);
      assertClose(huber(p, t, { reduction: 'none' }), tf.tensor4d([0, 2.5], [1, 1, 2, 1]));
      assertClose(
        huber(p, t, { reduction: 'none', delta: 4 }),
        tf.tensor4d([0, 9 / 8], [1, 1, 2, 1]),
      );
    });
  });
});

describe('weightedLoss', () => {
  const discShift = weightedLoss((x: tf.Tensor) => tf.square(x), 'discShift', 'none');

  test("scales, then reduces as asked; the default reduction is the wrapper's", () => {
    tf.tidy(() => {
      const x = tf.tensor2d([[1, -2]]);
      assertClose(discShift(x), tf.tensor2d([[1, 4]]));
      assertClose(discShift(x, { weight: 0.5 }), tf.tensor2d([[0.5, 2]]));
      assertClose(discShift(x, { weight: 0.1, reduction: 'mean' }), 0.25);
      assertClose(discShift(x, { reduction: 'sum', weight: tf.tensor2d([[1, 0]]) }), 1);
      assertClose(discShift(x, { reduction: 'mean', avg_factor: 10 }), 0.5);
    });
  });

  test('functions of several tensors keep their arity', () => {
    tf.tidy(() => {
      const hinge = weightedLoss((a: tf.Tensor, b: tf.Tensor) => tf.relu(tf.sub(b, a)), 'hinge');
      assertClose(hinge(tf.tensor1d([1, 3]), tf.tensor1d([2, 2]), { weight: 2 }), 1);
    });
  });

  test('bad options are ConfigErrors naming the loss', () => {
    tf.tidy(() => {
      const x = tf.ones([2]);
      assert.throws(
        () => discShift(x, { reduction: 'avg' as 'mean' }),
        /discShift: 'reduction' must be one of 'none'\|'mean'\|'sum', got 'avg'/,
      );
      assert.throws(
        () => discShift(x, { reduction: 'sum', avg_factor: 2 }),
        /discShift: 'avg_factor' needs reduction 'mean'/,
      );
      assert.throws(
        () => discShift([1, 2] as unknown as tf.Tensor),
        /discShift: 'input 0' must be a tf.Tensor/,
      );
    });
  });
});
