import type { SimdSobelKernels } from '../simd/instance.ts';
import { heapF32, offsetOf, release, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';

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

/** `Σ w·(|kx∗d| + |ky∗d|)` over all images, d = pred − target, in the SIMD row kernels. */
export function simdSobelSum(
  wasm: WasmBackend,
  k: SimdSobelKernels,
  pred: TensorInfo,
  target: TensorInfo,
  weight: TensorInfo | undefined,
): number {
  const runner = new SimdSobel(wasm, k, pred.shape, false);
  try {
    return runner.sum(pred, target, weight);
  } finally {
    runner.dispose();
  }
}

/**
 * `out = −scale·(kx∗(sign(gx)·w) + ky∗(sign(gy)·w))` over all images, in the SIMD row kernels;
 * `out` is a heap tensor of pred's shape.
 */
export function simdSobelGrad(
  wasm: WasmBackend,
  k: SimdSobelKernels,
  pred: TensorInfo,
  target: TensorInfo,
  weight: TensorInfo | undefined,
  out: TensorInfo,
  scale: number,
): void {
  const runner = new SimdSobel(wasm, k, pred.shape, true);
  try {
    runner.grad(pred, target, weight, out, scale);
  } finally {
    runner.dispose();
  }
}
