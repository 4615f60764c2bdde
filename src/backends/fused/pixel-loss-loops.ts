/** The element-wise losses with fused kernels. */
export type FusedLoss = 'l1' | 'mse' | 'charbonnier';

/** `f(d)` or `f'(d)` of one element, in float32 arithmetic. */
export type ElementFn = (d: number, eps: number) => number;

const fsqrt = (x: number) => Math.fround(Math.sqrt(x));

/** `f(d)`: |d|, d² or sqrt(d² + eps). */
export const LOSS: Record<FusedLoss, ElementFn> = {
  l1: (d) => Math.abs(d),
  mse: (d) => Math.fround(d * d),
  charbonnier: (d, eps) => fsqrt(Math.fround(Math.fround(d * d) + eps)),
};

/** `f'(d)`: sign(d) (0 at 0), 2d or d / sqrt(d² + eps). */
export const DERIVATIVE: Record<FusedLoss, ElementFn> = {
  l1: (d) => (d > 0 ? 1 : d < 0 ? -1 : 0),
  mse: (d) => 2 * d,
  charbonnier: (d, eps) => d / fsqrt(Math.fround(Math.fround(d * d) + eps)),
};

/** Where one sample's elements are: arrays and start indices (p and t may share one heap). */
export interface Span {
  p: Float32Array;
  pAt: number;
  t: Float32Array;
  tAt: number;
  /** null: no weight. */
  w: Float32Array | null;
  wAt: number;
  count: number;
  /** Consecutive elements sharing one weight: 1, or C for a one-channel weight. */
  group: number;
}

/** `Σ f(p − t)·w` over one span, in JS (cpu backend, and wasm without SIMD). */
export function jsSum(f: ElementFn, eps: number, s: Span): number {
  const { p, t, w, pAt, tAt, count, group } = s;
  let total = 0;
  if (w === null) {
    for (let i = 0; i < count; i++) total += f(Math.fround(p[pAt + i] - t[tAt + i]), eps);
    return total;
  }
  for (let i = 0, j = s.wAt; i < count; j++) {
    let pixel = 0;
    for (let k = 0; k < group; k++, i++) pixel += f(Math.fround(p[pAt + i] - t[tAt + i]), eps);
    total += pixel * w[j];
  }
  return total;
}

/** `out = scale·f'(p − t)·w` over one span, in JS. */
export function jsGrad(
  f: ElementFn,
  eps: number,
  s: Span,
  out: Float32Array,
  outAt: number,
  scale: number,
): void {
  const { p, t, w, pAt, tAt, count, group } = s;
  if (w === null) {
    for (let i = 0; i < count; i++) {
      out[outAt + i] = scale * f(Math.fround(p[pAt + i] - t[tAt + i]), eps);
    }
    return;
  }
  for (let i = 0, j = s.wAt; i < count; j++) {
    const sw = scale * w[j];
    for (let k = 0; k < group; k++, i++) {
      out[outAt + i] = sw * f(Math.fround(p[pAt + i] - t[tAt + i]), eps);
    }
  }
}
