import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  CharbonnierLoss,
  ConfigError,
  charbonnierLoss,
  L1Loss,
  LOSSES,
  l1Loss,
  MaskedTVLoss,
  MSELoss,
  mseLoss,
  PSNRLoss,
  ShapeError,
  tvLoss,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import {
  checkMaskedVariants,
  type Forwardable,
  runBattery,
  unevenMask,
} from '../helpers/battery.ts';
import { maskedTV, type PixelKind, pixelLoss, psnr } from '../helpers/formulas.ts';
import {
  assertClose,
  assertNoLeak,
  binaryMask,
  checkGradient,
  uniform,
} from '../helpers/tensors.ts';

before(useTestBackend);

const SHAPE = [2, 4, 5, 3];
/** pred, and a target that differs from it by at least 0.1 everywhere (away from L1's kink). */
const pair = () =>
  tf.tidy(() => {
    const pred = uniform(SHAPE, 1);
    const offset = tf.mul(tf.sign(uniform(SHAPE, 2, -1, 1)), uniform(SHAPE, 3, 0.1, 0.5));
    return [pred, tf.add(pred, offset)];
  });

/** pred, target as {@link pair}, and a 1-channel weight in [0.5, 1.5) (smooth in every argument). */
const weightedPair = () => [...pair(), uniform([2, 4, 5, 1], 5, 0.5, 1.5)];

/** N×H×W×C values whose neighbours all differ by at least 0.05 (a shuffled ladder). */
function ladder(shape: number[], seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b);
  const values = Array.from({ length: size }, (_, i) => i);
  let state = seed;
  for (let i = size - 1; i > 0; i--) {
    state = (state * 16807) % 2147483647;
    const j = state % (i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return tf.tensor(
    Array.from(values, (v) => v * 0.05),
    shape,
  );
}

/**
 * MMagic's unit-test inputs (tests/test_models/test_losses/test_pixelwise_loss.py): a 1×64×64×1
 * weight with ones in the top-left 32×32.
 */
function mmagicInputs() {
  const weight = tf.tidy(() =>
    tf.pad(tf.ones([1, 32, 32, 1]), [
      [0, 0],
      [0, 32],
      [0, 32],
      [0, 0],
    ]),
  );
  return { weight, pred: weight.clone(), target: tf.mul(weight, 2) };
}

describe('l1Loss, mseLoss, charbonnierLoss', () => {
  for (const [type, kind, fn] of [
    ['L1Loss', 'l1', l1Loss],
    ['MSELoss', 'mse', mseLoss],
    ['CharbonnierLoss', 'charbonnier', charbonnierLoss],
  ] as const satisfies (readonly [string, PixelKind, unknown])[]) {
    runBattery({
      type,
      args: weightedPair,
      gradArgs: [0, 1, 2],
      reference: (p, t, weight) => pixelLoss(kind, p, t, { weight }),
    });

    test(`${type} and its function: values for every reduction × weight kind × sample_wise (MMagic's formula)`, () => {
      tf.tidy(() => {
        const [p, t0] = pair();
        // Sample 1 twice as far from its target as sample 0, so that per-sample means differ.
        const t = tf.add(p, tf.mul(tf.sub(t0, p), tf.tensor4d([1, 2], [2, 1, 1, 1])));
        checkMaskedVariants({ type, fn, formula: (p, t, o) => pixelLoss(kind, p, t, o) }, p, t);
        const mask = unevenMask();
        const [pixelMean, sampleMean] = [false, true].map(
          (sample_wise) => pixelLoss(kind, p, t, { weight: mask, sample_wise }).dataSync()[0],
        );
        assert.ok(Math.abs(pixelMean - sampleMean) > 0.05 * pixelMean, 'sample_wise matters here');
      });
    });

    test(`${type}: MMagic's unit-test values (test_pixelwise_loss.py)`, () => {
      tf.tidy(() => {
        const { weight, pred, target } = mmagicInputs();
        const eps = type === 'CharbonnierLoss' ? { eps: 1e-12 } : {};
        const m = (cfg: object) => LOSSES.build({ type, ...eps, ...cfg }) as unknown as Forwardable;
        assertClose(m({}).forward(pred, target), 0.25, { rtol: 1e-5 });
        const none = m({
          loss_weight: 0.5,
          reduction: 'none',
          ...(type === 'CharbonnierLoss' ? { eps: 1e-6 } : {}),
        });
        assertClose(none.forward(pred, target, weight), tf.mul(weight, 0.5), { atol: 1e-6 });
        assertClose(m({ loss_weight: 0.5, reduction: 'sum' }).forward(pred, target, weight), 512, {
          rtol: 1e-6,
        });
      });
    });
  }

  test("sample_wise mean counts a sample with an empty mask (MMagic's unit test: 0.5)", () => {
    tf.tidy(() => {
      const { weight } = mmagicInputs();
      const w = tf.concat([weight, tf.zeros([1, 64, 64, 1])]);
      const pred = tf.concat([weight, tf.zeros([1, 64, 64, 1])]);
      const target = tf.mul(pred, 2);
      assertClose(new L1Loss({ sample_wise: true }).forward(pred, target, w), 0.5);
    });
  });

  test("a one-pixel weight: the mean divides by C/C_w·Σw + 1e-12 (MMagic's ε)", () => {
    tf.tidy(() => {
      // pred 0, target 3, C = 3 and a 1-channel weight w at one pixel: 3w·loss / (3w + ε). With
      // w = 1 that is the element loss itself (an ε of 1e-3 would give 0.9997 of it); with
      // w = 1e-12 = ε it is 3/4 of it.
      const pred = tf.zeros([1, 4, 4, 3]);
      const target = tf.fill([1, 4, 4, 3], 3);
      for (const [w, factor] of [
        [1, 1],
        [1e-12, 0.75],
      ]) {
        const weight = tf.pad(tf.fill([1, 1, 1, 1], w), [
          [0, 0],
          [2, 1],
          [1, 2],
          [0, 0],
        ]);
        for (const [type, element] of [
          ['L1Loss', 3],
          ['MSELoss', 9],
          ['CharbonnierLoss', 3],
        ] as const) {
          for (const sample_wise of [false, true]) {
            const m = LOSSES.build({ type, sample_wise }) as unknown as Forwardable;
            assertClose(m.forward(pred, target, weight), element * factor, {
              atol: 0,
              rtol: 1e-6,
              what: `${type}, w = ${w}, sample_wise ${sample_wise}`,
            });
          }
        }
      }
    });
  });

  test('an all-zero weight gives 0 and zero gradients, not NaN', () => {
    tf.tidy(() => {
      const [p, t] = pair();
      const w = tf.zeros([2, 4, 5, 1]);
      for (const sample_wise of [false, true]) {
        const f = (x: tf.Tensor) => l1Loss(x, t, { weight: w, sample_wise });
        assertClose(f(p), 0, { atol: 0 });
        assertClose(tf.grad(f)(p), tf.zeros(SHAPE), { atol: 0 });
      }
    });
  });

  test('the L1 gradient is 0 where pred equals target (torch sign(0) = 0)', () => {
    tf.tidy(() => {
      const p = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      const t = tf.tensor4d([1, 0, 3, 5], [1, 2, 2, 1]);
      assertClose(tf.grad((x: tf.Tensor) => l1Loss(x, t))(p), [0, 0.25, 0, -0.25]);
    });
  });

  test('Charbonnier of a perfect match is sqrt(eps) per element', () => {
    tf.tidy(() => {
      const x = uniform(SHAPE, 5);
      assertClose(new CharbonnierLoss().forward(x, x), 1e-6, { rtol: 1e-5, atol: 0 });
      assertClose(new CharbonnierLoss({ eps: 1e-4 }).forward(x, x), 1e-2, { rtol: 1e-5, atol: 0 });
    });
  });
});

describe('pixel-wise losses: bad input', () => {
  test('a bad reduction names the loss, the key, the allowed values and the value given', () => {
    assert.throws(
      () => new L1Loss({ reduction: 'avg' as 'mean' }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === "L1Loss: option 'reduction' must be one of 'none'|'mean'|'sum', got 'avg'",
    );
  });

  test('an unknown key suggests the closest option', () => {
    assert.throws(
      () => LOSSES.build({ type: 'MSELoss', loss_wieght: 2 }),
      /MSELoss: unknown option 'loss_wieght'\. Did you mean 'loss_weight'\?/,
    );
  });

  test('a wrong option type is named', () => {
    assert.throws(
      () => LOSSES.build({ type: 'CharbonnierLoss', eps: '1e-6' }),
      /CharbonnierLoss: option 'eps' must be a number, got '1e-6'/,
    );
    assert.throws(
      () => LOSSES.build({ type: 'CharbonnierLoss', eps: -1 }),
      /CharbonnierLoss: option 'eps' must be >= 0, got -1/,
    );
    assert.throws(
      () => LOSSES.build({ type: 'L1Loss', sample_wise: 'yes' }),
      /L1Loss: option 'sample_wise' must be a boolean, got 'yes'/,
    );
  });

  test('shape mismatches are reported before any math runs', () => {
    tf.tidy(() => {
      const [p] = pair();
      const before = tf.memory().numTensors;
      const m = new MSELoss();
      assert.throws(
        () => m.forward(p, tf.zeros([2, 4, 5, 1])),
        (e: Error) =>
          e instanceof ShapeError &&
          e.message ===
            "mseLoss: 'target' must have the shape of 'pred' [2, 4, 5, 3], got [2, 4, 5, 1]",
      );
      const after = tf.memory().numTensors;
      assert.equal(after - before, 1, 'only the test tensor was created');
    });
  });

  test('weight rank and channel count are checked', () => {
    tf.tidy(() => {
      const [p, t] = pair();
      const m = new L1Loss();
      assert.throws(
        () => m.forward(p, t, tf.ones([2, 4, 5])),
        /l1Loss: 'weight' must have rank 4 \(NHWC\), got a float32 tensor of shape \[2, 4, 5\]/,
      );
      assert.throws(
        () => m.forward(p, t, tf.ones([2, 4, 5, 2])),
        /l1Loss: 'weight' must have shape \[2, 4, 5, 1\] or \[2, 4, 5, 3\], got \[2, 4, 5, 2\]/,
      );
      assert.throws(() => m.forward(p, t, tf.ones([1, 4, 5, 1])), ShapeError);
    });
  });

  test('non-tensors and integer tensors are refused', () => {
    tf.tidy(() => {
      const [p] = pair();
      const m = new L1Loss();
      assert.throws(
        () => m.forward(p, [1, 2, 3] as unknown as tf.Tensor),
        /l1Loss: 'target' must be a tf.Tensor, got an array of length 3/,
      );
      assert.throws(
        () => m.forward(p, tf.zeros(SHAPE, 'int32')),
        /l1Loss: 'target' must be float32, got a int32 tensor/,
      );
    });
  });
});

describe('MaskedTVLoss', () => {
  const args = () => [ladder([2, 5, 6, 3], 7), binaryMask([2, 5, 6, 1], 8)];
  runBattery({ type: 'MaskedTVLoss', args, gradArgs: [0], reference: maskedTV });

  test("MMagic's unit test: a bar through a 2×2 mask gives 1.0", () => {
    tf.tidy(() => {
      const pred = tf.tensor4d(
        Array.from({ length: 36 }, (_, i) => (Math.floor(i / 6) === 3 ? 1 : 0)),
        [1, 6, 6, 1],
      );
      const mask = tf.tensor4d(
        Array.from({ length: 36 }, (_, i) => {
          const [r, c] = [Math.floor(i / 6), i % 6];
          return r >= 2 && r < 4 && c >= 2 && c < 4 ? 1 : 0;
        }),
        [1, 6, 6, 1],
      );
      assertClose(new MaskedTVLoss().forward(pred, mask), 1.0);
    });
  });

  test('a missing mask is a clear error', () => {
    tf.tidy(() => {
      assert.throws(
        () =>
          new MaskedTVLoss().forward(uniform([1, 4, 4, 1], 1), undefined as unknown as tf.Tensor),
        /MaskedTVLoss: 'mask' is required/,
      );
    });
  });
});

describe('tvLoss', () => {
  test('shape is [N] and a constant image has zero variation', () => {
    tf.tidy(() => {
      const out = tvLoss(tf.ones([3, 4, 5, 2]));
      assert.deepEqual(out.shape, [3]);
      assertClose(out, [0, 0, 0], { atol: 0 });
    });
  });

  test('a horizontal ramp: dx = 1 except the replicated last column', () => {
    tf.tidy(() => {
      const x = tf.tensor4d([0, 1, 2, 0, 1, 2], [1, 2, 3, 1]);
      assertClose(tvLoss(x), 4 / 6);
    });
  });

  test('gradient matches finite differences; no leaks', () => {
    const x = uniform([2, 4, 5, 2], 9);
    checkGradient((t) => tf.sum(tvLoss(t)), [x], 0);
    assertNoLeak(() => tvLoss(x));
    x.dispose();
  });

  test('a non-4D input is refused', () => {
    assert.throws(() => tvLoss(tf.zeros([4, 4])), /tvLoss: 'x' must have rank 4 \(NHWC\)/);
  });
});

describe('PSNRLoss', () => {
  runBattery({ type: 'PSNRLoss', args: pair, gradArgs: [0, 1], reference: psnr });

  test("MMagic's unit test: ones vs zeros gives 0, zeros vs zeros gives −80", () => {
    tf.tidy(() => {
      const m = new PSNRLoss();
      assertClose(m.forward(tf.ones([1, 8, 8, 3]), tf.zeros([1, 8, 8, 3])), 0, { atol: 1e-5 });
      assertClose(m.forward(tf.zeros([1, 8, 8, 3]), tf.zeros([1, 8, 8, 3])), -80);
    });
  });

  test('toY is accepted (and has no effect, as MMagic)', () => {
    tf.tidy(() => {
      const [p, t] = pair();
      assertClose(new PSNRLoss({ toY: true }).forward(p, t), new PSNRLoss().forward(p, t));
    });
  });

  test('non-4D inputs are refused', () => {
    assert.throws(
      () => new PSNRLoss().forward(tf.zeros([4, 3]), tf.zeros([4, 3])),
      /PSNRLoss: 'pred' must have rank 4/,
    );
  });
});
