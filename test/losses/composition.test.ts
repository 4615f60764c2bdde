import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { L1CompositionLoss, LOSSES, ShapeError } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { type Forwardable, runBattery } from '../helpers/battery.ts';
import { composite, type PixelKind, pixelLoss, type Reduction } from '../helpers/formulas.ts';
import { assertClose, binaryMask, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

const TYPES = ['L1CompositionLoss', 'MSECompositionLoss', 'CharbonnierCompLoss'] as const;

/** Each composition loss's pixel loss (MMagic: `l1_loss`, `mse_loss`, `charbonnier_loss`). */
const KIND: Record<(typeof TYPES)[number], PixelKind> = {
  L1CompositionLoss: 'l1',
  MSECompositionLoss: 'mse',
  CharbonnierCompLoss: 'charbonnier',
};

/**
 * α in (0.2, 0.8), fg, bg, an ori_merged away from the composite (away from L1's kink), and a
 * 1-channel weight in [0.5, 1.5).
 */
const args = () =>
  tf.tidy(() => {
    const alpha = uniform([2, 4, 5, 1], 11, 0.2, 0.8);
    const fg = uniform([2, 4, 5, 3], 12);
    const bg = uniform([2, 4, 5, 3], 13, 1.5, 2.5);
    const merged = tf.add(composite(alpha, fg, bg), uniform([2, 4, 5, 3], 14, 0.1, 0.4));
    return [alpha, fg, bg, merged, uniform([2, 4, 5, 1], 15, 0.5, 1.5)];
  });

/**
 * MMagic's unit-test inputs (tests/test_models/test_losses/test_composition_loss.py):
 * α = 0.5·weight, fg = 0, bg = 4, ori_merged = 1.
 */
function mmagicInputs() {
  const weight = tf.pad(tf.ones([1, 32, 32, 1]), [
    [0, 0],
    [0, 32],
    [0, 32],
    [0, 0],
  ]);
  return {
    weight,
    alpha: tf.mul(weight, 0.5),
    fg: tf.zeros([1, 64, 64, 3]),
    bg: tf.fill([1, 64, 64, 3], 4),
    merged: tf.ones([1, 64, 64, 3]),
  };
}

describe('composition losses', () => {
  for (const type of TYPES) {
    runBattery({
      type,
      args,
      gradArgs: [0, 1, 2, 3, 4],
      reference: (a, f, b, m, weight) => pixelLoss(KIND[type], composite(a, f, b), m, { weight }),
    });

    test(`${type}: every reduction × sample_wise with a 1-channel mask (MMagic's formula)`, () => {
      tf.tidy(() => {
        const [a, f, b, m] = args();
        const weight = binaryMask([2, 4, 5, 1], 3);
        for (const reduction of ['none', 'mean', 'sum'] as Reduction[]) {
          for (const sample_wise of [false, true]) {
            const cfg = { type, loss_weight: 2, reduction, sample_wise };
            const module = LOSSES.build(cfg) as unknown as Forwardable;
            const options = { weight, reduction, sample_wise };
            const want = pixelLoss(KIND[type], composite(a, f, b), m, options);
            assertClose(module.forward(a, f, b, m, weight), tf.mul(want, 2), {
              atol: 1e-7,
              rtol: 1e-5,
              what: `${reduction}, sample_wise ${sample_wise}`,
            });
          }
        }
      });
    });
  }

  test("MMagic's unit-test values (test_composition_loss.py)", () => {
    tf.tidy(() => {
      const { weight, alpha, fg, bg, merged } = mmagicInputs();
      const mean = { L1CompositionLoss: 2.5, MSECompositionLoss: 7.0, CharbonnierCompLoss: 2.5 };
      for (const type of TYPES) {
        const m = (cfg: object) => LOSSES.build({ type, ...cfg }) as unknown as Forwardable;
        assertClose(m({}).forward(alpha, fg, bg, merged), mean[type], { rtol: 1e-5 });
        const none = m({
          loss_weight: 0.5,
          reduction: 'none',
          ...(type === 'CharbonnierCompLoss' ? { eps: 1e-6 } : {}),
        });
        assertClose(
          none.forward(alpha, fg, bg, merged, weight),
          tf.mul(tf.tile(weight, [1, 1, 1, 3]), 0.5),
          { atol: 1e-6 },
        );
        assertClose(
          m({ loss_weight: 0.5, reduction: 'sum' }).forward(alpha, fg, bg, merged, weight),
          1536,
          {
            rtol: 1e-6,
          },
        );
      }
    });
  });

  test('pred_alpha must be N×H×W×1 matching fg', () => {
    tf.tidy(() => {
      const [, f, b, m] = args();
      const loss = new L1CompositionLoss();
      assert.throws(
        () => loss.forward(tf.zeros([2, 4, 5, 3]), f, b, m),
        (e: Error) =>
          e instanceof ShapeError &&
          /L1CompositionLoss: 'pred_alpha' must be N×H×W×1/.test(e.message),
      );
      assert.throws(
        () => loss.forward(tf.zeros([2, 4, 5, 1]), f, b, tf.zeros([2, 4, 4, 3])),
        /L1CompositionLoss: 'ori_merged' must have the shape of 'fg' \[2, 4, 5, 3\], got \[2, 4, 4, 3\]/,
      );
      assert.throws(
        () => loss.forward(tf.zeros([2, 4, 5, 1]), f, b, m, tf.zeros([2, 4, 5, 2])),
        /L1CompositionLoss: 'weight' must have shape/,
      );
    });
  });
});
