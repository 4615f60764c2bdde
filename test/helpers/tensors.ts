import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

/** Relative tolerance used against PyTorch references: |got − want| ≤ 1e-5 + 5e-4·|want|. */
export const REF_ATOL = 1e-5;
export const REF_RTOL = 5e-4;

/** Asserts element-wise closeness `|a − b| ≤ atol + rtol·|b|`, and equal shapes. */
export function assertClose(
  actual: tf.Tensor | number,
  expected: tf.Tensor | number | number[],
  { atol = REF_ATOL, rtol = REF_RTOL, what = 'value' } = {},
): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual.dataSync());
  const e =
    typeof expected === 'number'
      ? [expected]
      : Array.isArray(expected)
        ? expected
        : Array.from(expected.dataSync());
  if (typeof actual !== 'number' && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  }
  assert.equal(a.length, e.length, `${what}: element count`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i] - e[i]) - (atol + rtol * Math.abs(e[i]));
    if (!(excess <= worst) || Number.isNaN(a[i]) !== Number.isNaN(e[i])) {
      worst = Number.isNaN(excess) ? Number.POSITIVE_INFINITY : excess;
      at = i;
    }
  }
  assert.ok(at < 0, `${what}: element ${at} is ${a[at]}, expected ${e[at]}`);
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
 * Compares the analytic gradient of the scalar `f` w.r.t. `xs[argIndex]` with central finite
 * differences in float32 (step `eps`), element by element.
 */
export function checkGradient(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  xs: tf.Tensor[],
  argIndex: number,
  { eps = 1e-2, atol = 2e-3, rtol = 2e-2 } = {},
): void {
  const analytic = tf.tidy(() => tf.grads((...a: tf.Tensor[]) => f(...a))(xs)[argIndex]);
  const base = Array.from(xs[argIndex].dataSync());
  const numeric = base.map((_, i) => {
    const at = (delta: number) =>
      tf.tidy(() => {
        const shifted = base.slice();
        shifted[i] += delta;
        const args = xs.slice();
        args[argIndex] = tf.tensor(shifted, xs[argIndex].shape);
        return f(...args).dataSync()[0];
      });
    return (at(eps) - at(-eps)) / (2 * eps);
  });
  assertClose(analytic, numeric, { atol, rtol, what: `gradient of argument ${argIndex}` });
  analytic.dispose();
}
