import * as tf from '@tensorflow/tfjs';
import { type SimdSobelKernels, simdSobelKernels } from '../simd/instance.ts';
import { heapF32, offsetOf, release, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';
import { runFused } from './pixel-loss.ts';

/**
 * Kernel names of the fused Sobel L1 loss (MMagic `GradientLoss` without its weight):
 * `GenlossSobelL1Sum([pred, target, weight?]) = Σ w·(|kx∗d| + |ky∗d|)` with `d = pred − target`,
 * the Sobel kernels applied per channel with zero padding 1 (NHWC, any C), and
 * `GenlossSobelL1Grad([dy, pred, target, weight?]) = dy · ∂/∂pred` of that sum.
 */
export const SOBEL_L1_SUM = 'GenlossSobelL1Sum';
export const SOBEL_L1_GRAD = 'GenlossSobelL1Grad';

// kx∗d (cross-correlation, kx = [[1,0,−1],[2,0,−2],[1,0,−1]]) is separable:
//   gx(y, x) = s(y, x−1) − s(y, x+1),   s = d(y−1) + 2·d(y) + d(y+1)   (vertical smoothing)
//   gy(y, x) = e(y, x−1) + 2·e(y, x) + e(y, x+1),   e = d(y−1) − d(y+1)  (vertical difference)
// Both kernels are odd under a 180° turn, so the adjoint of `k∗` is `−k∗`: the gradient is
// −(kx∗ax + ky∗ay) with ax = sign(gx)·w·dy and ay = sign(gy)·w·dy. Rows outside the image are 0.

/** One image: its H×W×C elements from `at` in `a`, and the weight per pixel or element. */
interface Image {
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

/** `Σ w·(|gx| + |gy|)` over one image. */
function imageSum(p: Float32Array, pAt: number, t: Float32Array, tAt: number, img: Image): number {
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
function imageGrad(
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

interface KernelArgs {
  inputs: TensorInfo[];
  backend: object;
}

type CpuBackend = {
  data: { get(id: tf.DataId): { values: tf.backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
};

/** Per-image layout and array access, for either backend. */
function images(pred: TensorInfo, weight: TensorInfo | undefined) {
  const [n, h, w, c] = pred.shape;
  const per = h * w * c;
  const wPer = weight ? weight.shape.slice(1).reduce((a, b) => a * b, 1) : 0;
  const img = (k: number, weightValues: Float32Array | null, wBase: number): Image => ({
    h,
    w,
    c,
    weight: weightValues,
    wAt: wBase + k * wPer,
    wGroup: weight ? per / wPer : 1,
  });
  return { n, per, img };
}

function arrays(backend: object, infos: (TensorInfo | undefined)[]) {
  if ('wasm' in backend) {
    const wasm = backend as WasmBackend;
    const heap = heapF32(wasm);
    return infos.map((info) => (info ? { a: heap, at: offsetOf(wasm, info) / 4 } : null));
  }
  const cpu = backend as CpuBackend;
  return infos.map((info) =>
    info ? { a: cpu.data.get(info.dataId).values as Float32Array, at: 0 } : null,
  );
}

/**
 * The SIMD path on wasm: per image and row, `sub_rows` makes rows of d, `vert` the vertical
 * passes, and `hsum` / `hsign` / `hout` the horizontal ones, all in place on the heap. Scratch
 * (byte offsets): a zero row, three rolling d rows, the guarded s and e rows, an expanded weight
 * row, and for the gradient the full-image ax and ay.
 */
class SimdSobel {
  readonly n: number;
  readonly per: number;
  private readonly scratch: TensorInfo;
  private readonly zero: number;
  private readonly d: number[];
  private readonly s: number;
  private readonly e: number;
  private readonly wRow: number;
  private readonly ax: number;
  private readonly ay: number;

  constructor(
    private readonly wasm: WasmBackend,
    private readonly k: SimdSobelKernels,
    private readonly shape: number[],
    withImages: boolean,
  ) {
    const [, h, w, c] = shape;
    this.n = w * c;
    this.per = h * this.n;
    const guarded = this.n + 2 * c + 4;
    const floats = 6 * this.n + 2 * guarded + (withImages ? 2 * this.per : 0);
    this.scratch = wasm.makeOutput([floats], 'float32');
    const base = offsetOf(wasm, this.scratch);
    heapF32(wasm).fill(0, base / 4, base / 4 + floats);
    const row = 4 * this.n;
    this.zero = base;
    this.d = [base + row, base + 2 * row, base + 3 * row];
    this.s = base + 4 * row + 4 * c;
    this.e = this.s + 4 * guarded;
    this.wRow = this.e - 4 * c + 4 * guarded;
    this.ax = this.wRow + row;
    this.ay = this.ax + 4 * this.per;
  }

  dispose(): void {
    release(this.wasm, this.scratch);
  }

  /** Weight pointer for row y of image `image` (0: none). */
  private weightRow(weight: TensorInfo | undefined, image: number, y: number): number {
    if (!weight) return 0;
    const [, h, w, c] = this.shape;
    const base = offsetOf(this.wasm, weight);
    if (weight.shape[3] === c) return base + 4 * (image * this.per + y * this.n);
    this.k.expand(this.wRow, base + 4 * (image * h * w + y * w), w, c);
    return this.wRow;
  }

  /**
   * Runs the vertical + horizontal passes of one image's d = p − t, calling `row(y, w)` after
   * the s and e rows of y are ready.
   */
  private rows(
    p: number,
    t: number,
    weight: TensorInfo | undefined,
    image: number,
    row: (y: number, w: number) => void,
  ) {
    const h = this.shape[1];
    const { n, k } = this;
    const dRow = (y: number) => this.d[(y + 3) % 3];
    const at = (y: number) => 4 * (image * this.per + y * n);
    k.sub_rows(dRow(0), p + at(0), t + at(0), n);
    for (let y = 0; y < h; y++) {
      if (y + 1 < h) k.sub_rows(dRow(y + 1), p + at(y + 1), t + at(y + 1), n);
      const above = y > 0 ? dRow(y - 1) : this.zero;
      const below = y + 1 < h ? dRow(y + 1) : this.zero;
      k.vert(this.s, this.e, above, dRow(y), below, above, below, n);
      row(y, this.weightRow(weight, image, y));
    }
  }

  sum(pred: TensorInfo, target: TensorInfo, weight: TensorInfo | undefined): number {
    const p = offsetOf(this.wasm, pred);
    const t = offsetOf(this.wasm, target);
    const c = this.shape[3];
    let total = 0;
    for (let image = 0; image < this.shape[0]; image++) {
      this.rows(p, t, weight, image, (_y, w) => {
        total += this.k.hsum(this.s, this.e, w, this.n, c);
      });
    }
    return total;
  }

  grad(
    pred: TensorInfo,
    target: TensorInfo,
    weight: TensorInfo | undefined,
    out: TensorInfo,
    scale: number,
  ): void {
    const p = offsetOf(this.wasm, pred);
    const t = offsetOf(this.wasm, target);
    const o = offsetOf(this.wasm, out);
    const [, h, , c] = this.shape;
    const { n, k } = this;
    const row = (base: number, y: number) => (y < 0 || y >= h ? this.zero : base + 4 * y * n);
    for (let image = 0; image < this.shape[0]; image++) {
      this.rows(p, t, weight, image, (y, w) => {
        k.hsign(this.s, this.e, w, row(this.ax, y), row(this.ay, y), n, c, scale);
      });
      for (let y = 0; y < h; y++) {
        k.vert(
          this.s,
          this.e,
          row(this.ax, y - 1),
          row(this.ax, y),
          row(this.ax, y + 1),
          row(this.ay, y - 1),
          row(this.ay, y + 1),
          n,
        );
        k.hout(this.s, this.e, o + 4 * (image * this.per + y * n), n, c);
      }
    }
  }
}

function simdOf(backend: object): SimdSobelKernels | null {
  return 'wasm' in backend ? simdSobelKernels(backend as WasmBackend) : null;
}

function sumKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const [pred, target, weight] = inputs;
  const simd = simdOf(backend);
  if (simd) {
    const runner = new SimdSobel(backend as WasmBackend, simd, pred.shape, false);
    const total = runner.sum(pred, target, weight);
    runner.dispose();
    return output(backend, [], Float32Array.of(total));
  }
  const { n, per, img } = images(pred, weight);
  const [p, t, w] = arrays(backend, [pred, target, weight]);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const at = k * per;
    total += imageSum(p!.a, p!.at + at, t!.a, t!.at + at, img(k, w?.a ?? null, w?.at ?? 0));
  }
  return output(backend, [], Float32Array.of(total));
}

function gradKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const [dy, pred, target, weight] = inputs;
  const simd = simdOf(backend);
  if (simd) {
    const wasm = backend as WasmBackend;
    const out = wasm.makeOutput(pred.shape, 'float32');
    const scale = heapF32(wasm)[offsetOf(wasm, dy) / 4];
    const runner = new SimdSobel(wasm, simd, pred.shape, true);
    runner.grad(pred, target, weight, out, scale);
    runner.dispose();
    return out;
  }
  const { n, per, img } = images(pred, weight);
  const out = outputFor(backend, pred.shape);
  const [d, p, t, w, o] = arrays(backend, [dy, pred, target, weight, out.info]);
  const scale = d!.a[d!.at];
  const dst = out.values ?? o!.a;
  for (let k = 0; k < n; k++) {
    const at = k * per;
    imageGrad(
      p!.a,
      p!.at + at,
      t!.a,
      t!.at + at,
      img(k, w?.a ?? null, w?.at ?? 0),
      dst,
      (out.values ? 0 : o!.at) + at,
      scale,
    );
  }
  return out.values ? output(backend, pred.shape, out.values) : (out.info as TensorInfo);
}

/** A wasm output allocated up front (written in place), or a cpu array to wrap afterwards. */
function outputFor(backend: object, shape: number[]) {
  if ('wasm' in backend) {
    return { info: (backend as WasmBackend).makeOutput(shape, 'float32'), values: null };
  }
  return { info: undefined, values: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

function output(backend: object, shape: number[], values: Float32Array): TensorInfo {
  if ('wasm' in backend) {
    const wasm = backend as WasmBackend;
    const info = wasm.makeOutput(shape, 'float32');
    heapF32(wasm).set(values, offsetOf(wasm, info) / 4);
    return info;
  }
  return (backend as CpuBackend).makeTensorInfo(shape, 'float32', values);
}

/**
 * The fused Sobel kernels for `cpu` (JS loops) and `wasm` (the SIMD row kernels in place on the
 * heap; JS loops where SIMD is unavailable).
 */
export const SOBEL_KERNELS: readonly tf.KernelConfig[] = ['cpu', 'wasm'].flatMap((backendName) => [
  { kernelName: SOBEL_L1_SUM, backendName, kernelFunc: sumKernel as unknown as tf.KernelFunc },
  { kernelName: SOBEL_L1_GRAD, backendName, kernelFunc: gradKernel as unknown as tf.KernelFunc },
]);

// ── Gradients ────────────────────────────────────────────────────────────────────────────────
// The sum's gradient w.r.t. pred is the Grad kernel (w.r.t. target, its negative). The Grad
// kernel is piecewise linear in d with a constant sign pattern, so its own gradient w.r.t. pred
// and target is 0, w.r.t. dy the Grad kernel at dy = 1, and w.r.t. the weight an op chain.

const SOBEL_HWIO = [1, 1, 0, 2, -1, 1, 2, 0, 0, 0, -2, 0, 1, -1, 0, -2, -1, -1];

/** `[kx∗x, ky∗x]` per channel, zero padding 1, as taped ops (NHWC in, NHWC out). */
export function sobelOps(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const [n, h, w, c] = x.shape;
  const planes = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w, 1]) as tf.Tensor4D;
  const r = tf.conv2d(planes, tf.tensor4d(SOBEL_HWIO, [3, 3, 1, 2]), 1, 'same');
  const back = (k: number) =>
    tf.transpose(
      tf.reshape(tf.slice(r, [0, 0, 0, k], [n * c, h, w, 1]), [n, c, h, w]),
      [0, 2, 3, 1],
    );
  return [back(0), back(1)];
}

function toWeightShape(e: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  return weight.shape[3] === e.shape[3] ? e : tf.sum(e, 3, true);
}

const NO_ATTRS = {} as never;

const sumGradient: tf.GradConfig = {
  kernelName: SOBEL_L1_SUM,
  saveAllInputs: true,
  gradFunc: (dy, saved) => {
    const [pred, target, weight] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const grad = () => runFused(SOBEL_L1_GRAD, [dy as tf.Tensor, pred, target, weight], NO_ATTRS);
    return {
      0: grad,
      1: () => tf.neg(grad()),
      2: () => {
        const [gx, gy] = sobelOps(tf.sub(pred, target));
        const e = tf.mul(tf.add(tf.abs(gx), tf.abs(gy)), dy as tf.Tensor);
        return toWeightShape(e, weight as tf.Tensor);
      },
    };
  },
};

const gradGradient: tf.GradConfig = {
  kernelName: SOBEL_L1_GRAD,
  saveAllInputs: true,
  gradFunc: (upstream, saved) => {
    const [dy, pred, target, weight] = saved as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor | undefined,
    ];
    const u = upstream as tf.Tensor;
    return {
      0: () =>
        tf.sum(
          tf.mul(u, runFused(SOBEL_L1_GRAD, [tf.onesLike(dy), pred, target, weight], NO_ATTRS)),
        ),
      1: () => tf.zerosLike(pred),
      2: () => tf.zerosLike(target),
      3: () => {
        const [gx, gy] = sobelOps(tf.sub(pred, target));
        const [ux, uy] = sobelOps(u);
        const e = tf.add(tf.mul(tf.sign(gx), ux), tf.mul(tf.sign(gy), uy));
        return toWeightShape(tf.mul(e, dy), weight as tf.Tensor);
      },
    };
  },
};

/** The gradients of both Sobel kernels. */
export const SOBEL_GRADIENTS: readonly tf.GradConfig[] = [sumGradient, gradGradient];
