import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { LOSSES } from '../../src/index.ts';
import { assertClose, assertNoLeak, checkGradient } from './tensors.ts';

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
  /** Indices of the arguments whose gradient is checked against finite differences. */
  gradArgs: number[];
  /**
   * MMagic's formula for the module with `loss_weight` 1, called with the same arguments: written
   * from plain TF.js ops in the test (test/helpers/formulas.ts), never genloss's function, so that
   * a bug the function and the module share still shows.
   */
  reference: (...args: tf.Tensor[]) => tf.Tensor;
}

/**
 * The common checks of a loss with a target (the pixel-wise, composition and gradient tests run
 * it): built from a config, the module equals MMagic's formula (scaled by loss_weight); gradient
 * against finite differences; no tensor leak over 100 calls; empty and disposed arguments named.
 */
export function runBattery(spec: BatterySpec): void {
  const build = (extra: Record<string, unknown> = {}) =>
    LOSSES.build({ type: spec.type, ...spec.config, ...extra }) as unknown as Forwardable;

  test(`${spec.type}: module equals MMagic's formula (plain ops in the test) times loss_weight`, () => {
    tf.tidy(() => {
      const args = spec.args();
      const want = tf.mul(spec.reference(...args), 0.3);
      // Both are float32 sums of the same terms in different orders: a few roundings apart.
      assertClose(build({ loss_weight: 0.3 }).forward(...args), want, { atol: 1e-7, rtol: 1e-5 });
    });
  });

  test(`${spec.type}: gradient matches finite differences`, () => {
    const module = build();
    const args = spec.args();
    for (const i of spec.gradArgs) {
      checkGradient((...xs) => tf.sum(module.forward(...xs)), args, i);
    }
    tf.dispose(args);
  });

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
        message: /^\w+: '[a-z_]+' is empty \(shape \[0,/,
      });
      empty.dispose();
      const disposed = arg.clone();
      disposed.dispose();
      const withDisposed = args.map((a, j) => (j === i ? disposed : a));
      assert.throws(() => module.forward(...withDisposed), {
        name: 'ShapeError',
        message: /^\w+: '[a-z_]+' is a disposed tensor/,
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
