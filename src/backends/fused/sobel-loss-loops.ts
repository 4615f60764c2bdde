// The fused Sobel L1 kernels' JS loops (cpu, and wasm without SIMD). The Sobel kernels
// (src/core/sobel.ts) are separable, kx = [1, 2, 1]ᵀ ⊗ [1, 0, −1] and ky = [1, 0, −1]ᵀ ⊗ [1, 2, 1]:
//   gx(y, x) = s(y, x−1) − s(y, x+1),   s = d(y−1) + 2·d(y) + d(y+1)   (vertical smoothing)
//   gy(y, x) = e(y, x−1) + 2·e(y, x) + e(y, x+1),   e = d(y−1) − d(y+1)  (vertical difference)
// Both kernels are odd under a 180° turn, so the adjoint of `k∗` is `−k∗`: the gradient is
// −(kx∗ax + ky∗ay) with ax = sign(gx)·w·dy and ay = sign(gy)·w·dy. Rows outside the image are 0.

/** One image: its H×W×C size, and the weight per pixel or element. */
export interface Image {
  h: number;
  w: number;
  c: number;
  /** Weight values, or null; `wGroup` consecutive elements share one weight. */
  weight: Float32Array | null;
  wAt: number;
  wGroup: number;
}

/** Row `y` of d = p − t (zeros outside the image) into `out`, W·C long. */
function diffRow(
  p: Float32Array,
  pAt: number,
  t: Float32Array,
  tAt: number,
  img: Image,
  y: number,
  out: Float32Array,
): void {
  const n = img.w * img.c;
  if (y < 0 || y >= img.h) {
    out.fill(0);
    return;
  }
  const a = pAt + y * n;
  const b = tAt + y * n;
  for (let i = 0; i < n; i++) out[i] = p[a + i] - t[b + i];
}

/** Row `y` of `src` (zeros outside the image) into `out`. */
function copyRow(src: Float32Array, img: Image, y: number, out: Float32Array): void {
  const n = img.w * img.c;
  if (y < 0 || y >= img.h) out.fill(0);
  else out.set(src.subarray(y * n, (y + 1) * n));
}

/**
 * gx = s(x−1) − s(x+1) and gy = e(x−1) + 2e(x) + e(x+1) along one row of W pixels × C
 * channels, neighbours C apart, zero beyond the ends.
 */
function horizontal(
  s: Float32Array,
  e: Float32Array,
  c: number,
  gx: Float32Array,
  gy: Float32Array,
): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const l = i - c;
    const r = i + c;
    const sl = l >= 0 ? s[l] : 0;
    const el = l >= 0 ? e[l] : 0;
    const sr = r < n ? s[r] : 0;
    const er = r < n ? e[r] : 0;
    gx[i] = sl - sr;
    gy[i] = el + 2 * e[i] + er;
  }
}

/** Rolling rows of the streaming stencils, one set per image size. */
class Rows {
  above: Float32Array;
  here: Float32Array;
  below: Float32Array;
  readonly s: Float32Array;
  readonly e: Float32Array;
  readonly gx: Float32Array;
  readonly gy: Float32Array;
  constructor(readonly n: number) {
    this.above = new Float32Array(n);
    this.here = new Float32Array(n);
    this.below = new Float32Array(n);
    this.s = new Float32Array(n);
    this.e = new Float32Array(n);
    this.gx = new Float32Array(n);
    this.gy = new Float32Array(n);
  }
  roll(): void {
    const recycled = this.above;
    this.above = this.here;
    this.here = this.below;
    this.below = recycled;
  }
}

/**
 * Streams the Sobel responses of d = p − t row by row: after `fill(y)`, `rows.gx` and `rows.gy`
 * hold row y (the caller calls it for y = 0, 1, … in order).
 */
function sobelOfDiff(
  p: Float32Array,
  pAt: number,
  t: Float32Array,
  tAt: number,
  img: Image,
  rows: Rows,
) {
  diffRow(p, pAt, t, tAt, img, -1, rows.above);
  diffRow(p, pAt, t, tAt, img, 0, rows.here);
  return (y: number) => {
    diffRow(p, pAt, t, tAt, img, y + 1, rows.below);
    const { above, here, below, s, e } = rows;
    for (let i = 0; i < rows.n; i++) {
      s[i] = above[i] + 2 * here[i] + below[i];
      e[i] = above[i] - below[i];
    }
    horizontal(s, e, img.c, rows.gx, rows.gy);
    rows.roll();
  };
}

/** The weight of each element of row y, or null: expands a one-channel weight over C. */
function weightRow(img: Image, y: number, out: Float32Array): Float32Array | null {
  if (img.weight === null) return null;
  const n = img.w * img.c;
  const w = img.weight;
  if (img.wGroup === 1) return w.subarray(img.wAt + y * n, img.wAt + (y + 1) * n);
  const from = img.wAt + y * img.w;
  for (let x = 0, i = 0; x < img.w; x++) {
    const v = w[from + x];
    for (let k = 0; k < img.c; k++, i++) out[i] = v;
  }
  return out;
}

/** `Σ w·(|gx| + |gy|)` over one image, pred from `pAt` in `p`, target from `tAt` in `t`. */
export function imageSum(
  p: Float32Array,
  pAt: number,
  t: Float32Array,
  tAt: number,
  img: Image,
): number {
  const rows = new Rows(img.w * img.c);
  const weights = new Float32Array(rows.n);
  const next = sobelOfDiff(p, pAt, t, tAt, img, rows);
  let total = 0;
  for (let y = 0; y < img.h; y++) {
    next(y);
    const { gx, gy } = rows;
    const w = weightRow(img, y, weights);
    let row = 0;
    if (w === null) {
      for (let i = 0; i < rows.n; i++) row += Math.abs(gx[i]) + Math.abs(gy[i]);
    } else {
      for (let i = 0; i < rows.n; i++) row += (Math.abs(gx[i]) + Math.abs(gy[i])) * w[i];
    }
    total += row;
  }
  return total;
}

const sign = (v: number, w: number) => (v > 0 ? w : v < 0 ? -w : 0);

/**
 * `out = −(kx∗ax + ky∗ay)` over one image, with ax = scale·w·sign(gx), ay = scale·w·sign(gy):
 * a first streaming pass writes ax and ay, a second applies both stencils at once.
 */
export function imageGrad(
  p: Float32Array,
  pAt: number,
  t: Float32Array,
  tAt: number,
  img: Image,
  out: Float32Array,
  outAt: number,
  scale: number,
): void {
  const rows = new Rows(img.w * img.c);
  const n = rows.n;
  const ax = new Float32Array(img.h * n);
  const ay = new Float32Array(img.h * n);
  const weights = new Float32Array(n);
  const next = sobelOfDiff(p, pAt, t, tAt, img, rows);
  for (let y = 0; y < img.h; y++) {
    next(y);
    const { gx, gy } = rows;
    const w = weightRow(img, y, weights);
    const at = y * n;
    for (let i = 0; i < n; i++) {
      const v = w === null ? scale : scale * w[i];
      ax[at + i] = sign(gx[i], v);
      ay[at + i] = sign(gy[i], v);
    }
  }
  // kx∗ax = horizontal difference of the vertical smoothing of ax; ky∗ay = horizontal smoothing
  // of the vertical difference of ay: `horizontal` on (smooth(ax), diff(ay)) gives both.
  const xs = new Rows(n);
  const ys = new Rows(n);
  copyRow(ax, img, -1, xs.above);
  copyRow(ax, img, 0, xs.here);
  copyRow(ay, img, -1, ys.above);
  copyRow(ay, img, 0, ys.here);
  for (let y = 0; y < img.h; y++) {
    copyRow(ax, img, y + 1, xs.below);
    copyRow(ay, img, y + 1, ys.below);
    const s = xs.s;
    const e = xs.e;
    for (let i = 0; i < n; i++) {
      s[i] = xs.above[i] + 2 * xs.here[i] + xs.below[i];
      e[i] = ys.above[i] - ys.below[i];
    }
    horizontal(s, e, img.c, xs.gx, xs.gy);
    const o = outAt + y * n;
    for (let i = 0; i < n; i++) out[o + i] = -(xs.gx[i] + xs.gy[i]);
    xs.roll();
    ys.roll();
  }
}
