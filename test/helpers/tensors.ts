import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

export { assertClose, REF_ATOL, REF_RTOL } from './close.ts';

/**
 * Asserts a training step's `log_vars` against pinned numbers: the same keys in the same order,
 * each within `rtol` of its pinned value (`what` names the run in messages).
 */
export function assertLogVars(
  log: Record<string, number>,
  want: Record<string, number>,
  rtol: number,
  what: string,
): void {
  assert.deepEqual(Object.keys(log), Object.keys(want), `${what}: keys`);
  for (const [key, value] of Object.entries(want)) {
    assert.ok(
      Math.abs(log[key] - value) <= rtol * Math.abs(value),
      `${what}: ${key} is ${log[key]}, pinned ${value}`,
    );
  }
}

/** A seeded uniform tensor in [lo, hi). */
export function uniform(shape: number[], seed: number, lo = 0, hi = 1): tf.Tensor {
  return tf.randomUniform(shape, lo, hi, 'float32', seed);
}

/** A seeded binary mask with roughly `p` ones. */
export function binaryMask(shape: number[], seed: number, p = 0.6): tf.Tensor {
  return tf.tidy(() =>
    tf.cast(tf.less(tf.randomUniform(shape, 0, 1, 'float32', seed), p), 'float32'),
  );
}

/**
 * Asserts that `fn` leaves `tf.memory().numTensors` as it found it across `times` calls, apart
 * from what it returns (which is disposed).
 */
export function assertNoLeak(fn: () => tf.TensorContainer, times = 100): void {
  const warm = fn();
  tf.dispose(warm);
  const before = tf.memory().numTensors;
  for (let i = 0; i < times; i++) tf.dispose(fn());
  assert.equal(tf.memory().numTensors, before, 'tensors leaked across calls');
}

/** Asserts that `call` throws an error matching `want` 100 times, leaving numTensors as it was. */
export function assertFailsWithoutLeak(call: () => unknown, want: (e: Error) => boolean): void {
  const before = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) assert.throws(call, want);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked by 100 failed calls');
}

/**
 * Compares the analytic gradient of the scalar `f` w.r.t. `xs[argIndex]` with finite
 * differences, element by element, as tightly as float32 allows.
 *
 * f runs in float32; each perturbed entry is the float32 value the tensor holds (x ± h rounded)
 * and each quotient is taken in float64 over that step, so the only errors are f's float32
 * rounding and the truncation of the difference. Central differences at h = `eps` and `eps/2`
 * are combined by Richardson extrapolation, `(4·D(eps/2) − D(eps)) / 3`, which cancels the
 * `h²·f'''/6` truncation term (it dominates for curved f such as second-order gradients), so
 * what is left is rounding: about `2⁻²⁴·|f|/eps` times the few roundings f's value carries. Each
 * entry may differ by `noise` such units, `noise · 2⁻²⁴ · max|f(x ± h)| / eps`: a scale-aware
 * absolute tolerance, with no relative term. The default 12 is 1.8 times the worst measured for
 * the losses (6.7 units, a weight's gradient on wasm; ≤ 4.5 on cpu).
 */
export function checkGradient(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  xs: tf.Tensor[],
  argIndex: number,
  { eps = 1e-2, noise = 12 } = {},
): void {
  const analytic = tf.tidy(() => tf.grads((...a: tf.Tensor[]) => f(...a))(xs)[argIndex]);
  const grad = analytic.dataSync().slice();
  analytic.dispose();
  const base = xs[argIndex].dataSync().slice() as Float32Array;
  const at = (k: number, value: number) =>
    tf.tidy(() => {
      const shifted = base.slice();
      shifted[k] = value;
      const args = xs.slice();
      args[argIndex] = tf.tensor(shifted, xs[argIndex].shape);
      return f(...args).dataSync()[0];
    });
  base.forEach((v, k) => {
    let magnitude = 0;
    /** The central difference over the float32 step x ± h; records the size of f. */
    const central = (h: number) => {
      const [plus, minus] = [Math.fround(v + h), Math.fround(v - h)];
      const [fPlus, fMinus] = [at(k, plus), at(k, minus)];
      magnitude = Math.max(magnitude, Math.abs(fPlus), Math.abs(fMinus));
      return (fPlus - fMinus) / (plus - minus);
    };
    const numeric = (4 * central(eps / 2) - central(eps)) / 3;
    const allowed = (noise * 2 ** -24 * magnitude) / eps;
    assert.ok(
      Math.abs(grad[k] - numeric) <= allowed,
      `gradient of argument ${argIndex}: element ${k} is ${grad[k]}, finite differences give ${numeric} (allowed error ${allowed.toExponential(2)})`,
    );
  });
}
