/**
 * The comparison against PyTorch references, without Node built-ins, so that the browser suite
 * (test/browser/) bundles it too.
 */
import type * as tf from '@tensorflow/tfjs';

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
    const [got, want] = [actual.shape.join('×'), expected.shape.join('×')];
    if (got !== want) throw new Error(`${what}: shape ${got}, expected ${want}`);
  }
  if (a.length !== e.length) {
    throw new Error(`${what}: element count ${a.length}, expected ${e.length}`);
  }
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i] - e[i]) - (atol + rtol * Math.abs(e[i]));
    if (!(excess <= worst) || Number.isNaN(a[i]) !== Number.isNaN(e[i])) {
      worst = Number.isNaN(excess) ? Number.POSITIVE_INFINITY : excess;
      at = i;
    }
  }
  if (at >= 0) throw new Error(`${what}: element ${at} is ${a[at]}, expected ${e[at]}`);
}
