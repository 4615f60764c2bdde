import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GradientLoss, gradientLoss, ShapeError, sobel } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { runBattery } from '../helpers/battery.ts';
import { gradientLoss as gradientLossFormula, type Reduction } from '../helpers/formulas.ts';
import { assertClose, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

/**
 * pred, and a target that differs from it by a positive ramp plus noise, so that every Sobel
 * response of the difference is far from 0 (away from the L1 kink) for finite differences; and a
 * 1-channel weight in [0.5, 1.5).
 */
function smoothPair(c: number): tf.Tensor[] {
  return tf.tidy(() => {
    const pred = uniform([2, 5, 6, c], 21);
    const rows = tf.reshape(tf.range(0, 5), [1, 5, 1, 1]);
    const cols = tf.reshape(tf.range(0, 6), [1, 1, 6, 1]);
    const ramp = tf.add(tf.add(tf.mul(rows, 0.2), tf.mul(cols, 0.3)), 0.5);
    const target = tf.add(tf.add(pred, ramp), uniform([2, 5, 6, c], 22, 0, 0.02));
    return [pred, target, uniform([2, 5, 6, 1], 23, 0.5, 1.5)];
  });
}

describe('GradientLoss', () => {
  for (const c of [1, 3]) {
    runBattery({
      type: 'GradientLoss',
      args: () => smoothPair(c),
      gradArgs: [0, 1, 2],
      reference: (p, t, weight) => gradientLossFormula(p, t, { weight }),
    });
  }

  test("MMagic's unit-test values (tests/test_models/test_losses/test_gradient_loss.py, C = 1)", () => {
    tf.tidy(() => {
      const weight = tf.pad(tf.ones([1, 32, 32, 1]), [
        [0, 0],
        [0, 32],
        [0, 32],
        [0, 0],
      ]);
      const target = tf.mul(weight, 2);
      assertClose(new GradientLoss().forward(weight, target), 0.1860352, { rtol: 1e-6 });
      assertClose(
        tf.sum(
          new GradientLoss({ loss_weight: 0.5, reduction: 'none' }).forward(weight, target, weight),
        ),
        252,
        { rtol: 1e-6 },
      );
      assertClose(
        new GradientLoss({ loss_weight: 0.5, reduction: 'sum' }).forward(weight, target, weight),
        252,
        {
          rtol: 1e-6,
        },
      );
    });
  });

  test('gradientLoss: every reduction, with and without a weight, C = 1 and 3 (MMagic per channel)', () => {
    tf.tidy(() => {
      for (const c of [1, 3]) {
        const p = uniform([2, 5, 6, c], 24);
        const t = uniform([2, 5, 6, c], 25);
        for (const weight of [null, uniform([2, 5, 6, 1], 26), uniform([2, 5, 6, c], 27)]) {
          for (const reduction of ['none', 'mean', 'sum'] as Reduction[]) {
            assertClose(
              gradientLoss(p, t, { weight, reduction }),
              gradientLossFormula(p, t, { weight, reduction }),
              { atol: 1e-6, rtol: 1e-5, what: `C = ${c}, ${reduction}, weight ${weight?.shape}` },
            );
          }
        }
      }
    });
  });

  test('sobel: kx and ky on a ramp (zero padding at the border)', () => {
    tf.tidy(() => {
      const ramp = tf.tensor4d([0, 1, 2, 0, 1, 2, 0, 1, 2], [1, 3, 3, 1]);
      const [gx, gy] = sobel(ramp as tf.Tensor4D);
      // Centre: kx·x = (0 − 2)·(1 + 2 + 1) = −8; ky at the centre row sees equal rows: 0.
      assert.equal(gx.arraySync()[0][1][1][0], -8);
      assert.equal(gy.arraySync()[0][1][1][0], 0);
    });
  });

  test('bad shapes are refused', () => {
    assert.throws(
      () => new GradientLoss().forward(tf.zeros([5, 6, 1]), tf.zeros([5, 6, 1])),
      (e: Error) =>
        e instanceof ShapeError && /GradientLoss: 'pred' must have rank 4/.test(e.message),
    );
    assert.throws(
      () => new GradientLoss().forward(tf.zeros([1, 5, 6, 1]), tf.zeros([1, 5, 6, 3])),
      /GradientLoss: 'target' must have the shape of 'pred'/,
    );
  });
});
