import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { LOSSES } from '../../src/index.ts';
import type { Reduction } from './formulas.ts';
import { assertClose, assertNoLeak, checkGradient, uniform } from './tensors.ts';

/** A loss module as the battery drives it: MMagic's positional `forward`. */
export interface Forwardable {
  forward(...args: (tf.Tensor | null | undefined)[]): tf.Tensor;
  dispose(): void;
}

/** What the shared battery needs to know about one loss. */
export interface BatterySpec {
  /** Registry name. */
  type: string;
  /** Config for the module (besides `type`). */
  config?: Record<string, unknown>;
  /** Fresh positional forward arguments, small and away from kinks. */
  args: () => tf.Tensor[];
  /**
   * Indices of the arguments whose gradient is checked against finite differences; none for a
   * loss with kinks within the step at most points (a ReLU network), whose gradients the PyTorch
   * reference cases check instead.
   */
  gradArgs: number[];
  /**
   * MMagic's formula for the module with `loss_weight` 1, called with the same arguments: written
   * from plain TF.js ops in the test (test/helpers/formulas.ts), never genloss's function, so that
   * a bug the function and the module share still shows.
   */
  reference: (...args: tf.Tensor[]) => tf.Tensor;
  /** Gets each built module before it runs (to load a network's weights). */
  setup?: (module: never) => void;
}

/**
 * The common checks of a loss with a target (the pixel-wise, composition and gradient tests run
 * it): built from a config, the module equals MMagic's formula (scaled by loss_weight); gradient
 * against finite differences; no tensor leak over 100 calls; empty and disposed arguments named.
 */
export function runBattery(spec: BatterySpec): void {
  const build = (extra: Record<string, unknown> = {}) => {
    const module = LOSSES.build({ type: spec.type, ...spec.config, ...extra });
    spec.setup?.(module as never);
    return module as unknown as Forwardable;
  };

  test(`${spec.type}: module equals MMagic's formula (plain ops in the test) times loss_weight`, () => {
    tf.tidy(() => {
      const args = spec.args();
      const want = tf.mul(spec.reference(...args), 0.3);
      // Both are float32 sums of the same terms in different orders: a few roundings apart.
      assertClose(build({ loss_weight: 0.3 }).forward(...args), want, { atol: 1e-7, rtol: 1e-5 });
    });
  });

  if (spec.gradArgs.length > 0) {
    test(`${spec.type}: gradient matches finite differences`, () => {
      const module = build();
      const args = spec.args();
      for (const i of spec.gradArgs) {
        checkGradient((...xs) => tf.sum(module.forward(...xs)), args, i);
      }
      tf.dispose(args);
    });
  }

  test(`${spec.type}: no tensor leaks over 100 calls (forward and gradient)`, () => {
    const module = build();
    const args = spec.args();
    assertNoLeak(() => module.forward(...args));
    assertNoLeak(() => tf.grads((...xs: tf.Tensor[]) => tf.sum(module.forward(...xs)))(args), 20);
    tf.dispose(args);
  });

  test(`${spec.type}: an empty or disposed tensor argument is a ShapeError naming it`, () => {
    const module = build();
    const args = spec.args();
    const before = tf.memory().numTensors;
    args.forEach((arg, i) => {
      const empty = tf.zeros([0, ...arg.shape.slice(1)]);
      const withEmpty = args.map((a, j) => (j === i ? empty : a));
      assert.throws(() => module.forward(...withEmpty), {
        name: 'ShapeError',
        message: /^\w+: '\w+' is empty \(shape \[0,/,
      });
      empty.dispose();
      const disposed = arg.clone();
      disposed.dispose();
      const withDisposed = args.map((a, j) => (j === i ? disposed : a));
      assert.throws(() => module.forward(...withDisposed), {
        name: 'ShapeError',
        message: /^\w+: '\w+' is a disposed tensor/,
      });
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose(args);
  });

  test(`${spec.type}: lossName() is the configured loss_name`, () => {
    const m = build({ loss_name: 'loss_custom' }) as unknown as { lossName(): string };
    assert.equal(m.lossName(), 'loss_custom');
  });
}

/**
 * A 2×4×5×1 mask with one pixel set in sample 0 and seven in sample 1, so that the sample-wise
 * mean (each sample over its own pixels) differs from the pixel-wise one.
 */
export function unevenMask(): tf.Tensor {
  const values = new Array(40).fill(0);
  for (const k of [7, 20, 22, 25, 29, 31, 36, 39]) values[k] = 1;
  return tf.tensor4d(values, [2, 4, 5, 1]);
}

/** What {@link checkMaskedVariants} compares: a masked loss, its module and its formula. */
export interface MaskedVariantsSpec {
  /** Registry name; the module is built with `loss_weight` 0.7 and `config`. */
  type: string;
  config?: Record<string, unknown>;
  /** The loss function, called with `{weight, reduction, sample_wise, ...config}`. */
  fn: (p: tf.Tensor, t: tf.Tensor, options: never) => tf.Tensor;
  /** The formula in plain ops (test/helpers/formulas.ts), with the function's options. */
  formula: (
    p: tf.Tensor,
    t: tf.Tensor,
    options: { weight: tf.Tensor | null; reduction: Reduction; sample_wise: boolean },
  ) => tf.Tensor;
}

/**
 * Checks a masked loss's module (times `loss_weight` 0.7) and function against its formula for
 * every reduction × weight (none, {@link unevenMask}, a C-channel weight in [0, 1)) × sample_wise,
 * on 2×4×5×3 `p`, `t` (the caller makes sample 1 farther from its target than sample 0, so that
 * per-sample means differ). Call inside `tf.tidy`.
 */
export function checkMaskedVariants(spec: MaskedVariantsSpec, p: tf.Tensor, t: tf.Tensor): void {
  const weights = {
    none: null,
    'uneven 1-channel mask': unevenMask(),
    'C-channel weight': uniform(p.shape, 4),
  };
  for (const reduction of ['none', 'mean', 'sum'] as const) {
    for (const [name, weight] of Object.entries(weights)) {
      for (const sample_wise of [false, true]) {
        const m = LOSSES.build({
          type: spec.type,
          reduction,
          sample_wise,
          loss_weight: 0.7,
          ...spec.config,
        }) as unknown as Forwardable;
        const options = { weight, reduction, sample_wise, ...spec.config };
        const want = spec.formula(p, t, options);
        const close = {
          atol: 1e-7,
          rtol: 1e-5,
          what: `${spec.type}: ${reduction}, ${name}, sample_wise ${sample_wise}`,
        };
        assertClose(m.forward(p, t, weight), tf.mul(want, 0.7), close);
        assertClose(spec.fn(p, t, options as never), want, close);
      }
    }
  }
}
