import type { F32View } from './runtime.ts';

/**
 * The element functions of the fused GAN losses, each of one logit `x` and a constant `c`:
 *
 * | loss | f(x) | f'(x) | f''(x) |
 * | --- | --- | --- | --- |
 * | `bce` | `c·softplus(−x) + (1 − c)·softplus(x)` (c: the label) | `σ(x) − c` | `σ(x)·(1 − σ(x))` |
 * | `square` | `(x − c)²` (c: the label) | `2(x − c)` | 2 |
 * | `hinge` | `relu(1 + c·x)` (c: the sign, ±1) | `c` where `1 + c·x > 0`, else 0 | 0 |
 * | `linear` | `c·x` (c: the sign, ±1) | `c` | 0 |
 */
export type GanElementLoss = 'bce' | 'square' | 'hinge' | 'linear';

/** `softplus(x) = log(1 + eˣ)`, without overflow for large |x|. */
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** The logistic sigmoid, without overflow for large |x|. */
const sigmoid = (x: number) => {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
};

// One loop per loss, the loss's arithmetic inlined in it: a patch map is thousands of elements,
// where a call through a table of element functions costs more than the arithmetic.

/**
 * `scale·Σ f(x)` over `count` elements of `x`, accumulated in double precision. The BCE is summed
 * as `softplus(x) − c·x`, the same value (softplus(−x) = softplus(x) − x) for one exp and one log.
 */
export function ganSum(
  loss: GanElementLoss,
  c: number,
  x: F32View,
  count: number,
  scale: number,
): number {
  const { a, at } = x;
  const end = at + count;
  let total = 0;
  switch (loss) {
    case 'bce':
      for (let i = at; i < end; i++) total += softplus(a[i]) - c * a[i];
      break;
    case 'square':
      for (let i = at; i < end; i++) total += (a[i] - c) * (a[i] - c);
      break;
    case 'hinge':
      // 1 + c·x rounded to float32, as the op chain's `1 − x` / `1 + x`.
      for (let i = at; i < end; i++) total += Math.max(Math.fround(1 + c * a[i]), 0);
      break;
    case 'linear':
      for (let i = at; i < end; i++) total += a[i];
      total *= c;
      break;
  }
  return total * scale;
}

/**
 * `out = scale·f'(x)` over `count` elements: `σ(x) − c`, `2(x − c)`, `c` where `1 + c·x > 0`
 * (else 0, as TF.js's `relu` gradient), or `c`.
 */
export function ganGrad(
  loss: GanElementLoss,
  c: number,
  x: F32View,
  count: number,
  scale: number,
  out: F32View,
): void {
  const { a, at } = x;
  const o = out.a;
  const shift = out.at - at;
  const end = at + count;
  switch (loss) {
    case 'bce':
      for (let i = at; i < end; i++) o[i + shift] = scale * (sigmoid(a[i]) - c);
      break;
    case 'square':
      for (let i = at; i < end; i++) o[i + shift] = 2 * scale * (a[i] - c);
      break;
    case 'hinge':
      for (let i = at; i < end; i++) o[i + shift] = Math.fround(1 + c * a[i]) > 0 ? scale * c : 0;
      break;
    case 'linear':
      o.fill(scale * c, out.at, out.at + count);
      break;
  }
}
