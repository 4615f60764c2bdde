import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The N-API addon of native/genloss-native.c. Offsets are byte offsets into `heap` (the wasm
 * backend's memory); sizes are in elements; NHWC activations, `[kh, kw, in, out]` filters,
 * row-major matrices. Every run returns whether its output is finite: XNNPACK's output clamp
 * turns NaN into ±∞, so a non-finite output is left to the wasm kernel.
 */
export interface NativeAddon {
  /**
   * Packs the filter at `filterOffset` (and the bias at `biasOffset` if `hasBias`) into an XNNPACK
   * convolution; with `depthwise`, `co` is the channel multiplier (TF.js's `depthwiseConv2d`).
   */
  createConv(
    heap: ArrayBuffer,
    filterOffset: number,
    kh: number,
    kw: number,
    ci: number,
    co: number,
    padTop: number,
    padRight: number,
    padBottom: number,
    padLeft: number,
    strideH: number,
    strideW: number,
    dilationH: number,
    dilationW: number,
    hasBias: 0 | 1,
    biasOffset: number,
    depthwise: 0 | 1,
  ): NativeOperator;
  runConv(
    op: NativeOperator,
    heap: ArrayBuffer,
    batch: number,
    height: number,
    width: number,
    xOffset: number,
    yOffset: number,
  ): boolean;
  /**
   * Packs the filter at `filterOffset` into the XNNPACK deconvolution that is its input gradient
   * (with `depthwise`, of the depthwise convolution whose channel multiplier is `co`).
   */
  createDeconv(
    heap: ArrayBuffer,
    filterOffset: number,
    kh: number,
    kw: number,
    ci: number,
    co: number,
    padTop: number,
    padRight: number,
    padBottom: number,
    padLeft: number,
    strideH: number,
    strideW: number,
    depthwise: 0 | 1,
  ): NativeOperator;
  runDeconv(
    op: NativeOperator,
    heap: ArrayBuffer,
    batch: number,
    dyHeight: number,
    dyWidth: number,
    dxHeight: number,
    dxWidth: number,
    dyOffset: number,
    dxOffset: number,
  ): boolean;
  /** The filter gradient `[kh, kw, ci, co]` of a convolution. */
  convBackpropFilter: FilterGradient;
  /** The filter gradient `[kh, kw, ci, co]` of a depthwise convolution (`co`: the multiplier). */
  depthwiseBackpropFilter: FilterGradient;
  /**
   * `y[i] = op(a[i]) · op(b[i]) (+ bias)` for `i < max(batchA, batchB)` (a batch of 1 is
   * broadcast): `a[i]` is `[m, k]` (`[k, m]` if `transposeA`), `b[i]` `[k, n]` (`[n, k]` if
   * `transposeB`), the bias `[n]`, `y[i]` `[m, n]`.
   */
  matMul(
    heap: ArrayBuffer,
    aOffset: number,
    bOffset: number,
    yOffset: number,
    batchA: number,
    batchB: number,
    m: number,
    k: number,
    n: number,
    transposeA: 0 | 1,
    transposeB: 0 | 1,
    hasBias: 0 | 1,
    biasOffset: number,
  ): boolean;
  /**
   * One element-wise kernel (src/backends/native/elementwise.ts's `ElementwiseKind`) over `n`
   * elements into `y`; operands the kernel does not read are ignored. Bool tensors are one byte
   * an element.
   */
  elementwise(
    heap: ArrayBuffer,
    kind: number,
    n: number,
    yOffset: number,
    aOffset: number,
    bOffset: number,
    cOffset: number,
    scalar: number,
  ): void;
  /** `y[c] = (Σ_r x[r, c]) / divisor` for float32 `x` `[rows, cols]`. */
  sumRows(
    heap: ArrayBuffer,
    xOffset: number,
    yOffset: number,
    rows: number,
    cols: number,
    divisor: number,
  ): void;
  /** The binary cross-entropy of logits x with the label `c`: `scale·Σ softplus(x) − c·x`. */
  bceLoss(
    heap: ArrayBuffer,
    grad: 0,
    n: number,
    xOffset: number,
    outOffset: number,
    c: number,
    scale: number,
  ): number;
  /** Its gradient, written to `outOffset`: `scale·(σ(x) − c)`. */
  bceLoss(
    heap: ArrayBuffer,
    grad: 1,
    n: number,
    xOffset: number,
    outOffset: number,
    c: number,
    scale: number,
  ): void;
  /** Frees an operator's packed weights now (else at garbage collection). */
  release(op: NativeOperator): void;
  /** The thread pool's size: `GENLOSS_NATIVE_THREADS` if set, else 1. */
  threads(): number;
}

/** A filter gradient of the addon: `dW` into `dwOffset`; whether it is finite. */
export type FilterGradient = (
  heap: ArrayBuffer,
  xOffset: number,
  dyOffset: number,
  dwOffset: number,
  batch: number,
  height: number,
  width: number,
  ci: number,
  oh: number,
  ow: number,
  co: number,
  kh: number,
  kw: number,
  strideH: number,
  strideW: number,
  padTop: number,
  padLeft: number,
) => boolean;

/** An XNNPACK operator with its packed weights, owned by the addon. */
export type NativeOperator = { readonly __nativeOperator: unique symbol };

/** The environment variable that turns the native kernels off (`GENLOSS_NATIVE=0`). */
export const NATIVE_ENV = 'GENLOSS_NATIVE';

/** The platforms with a prebuilt binary (`prebuilds/<platform>-<arch>/`). */
export const NATIVE_PLATFORMS: readonly string[] = ['linux-x64'];

/** The prebuilt binary for this platform (it may not exist). */
export function nativeBinaryPath(platform = `${process.platform}-${process.arch}`): string {
  // src/backends/native/ and dist/backends/native/ are both three levels below the package root.
  return fileURLToPath(
    new URL(`../../../prebuilds/${platform}/genloss-native.node`, import.meta.url),
  );
}

/** The addon, or why it cannot be used here; `expected` when this platform has a binary. */
export type AddonLoad =
  | { addon: NativeAddon; reason?: undefined; expected: true }
  | { addon?: undefined; reason: string; expected: boolean };

/** Loads the prebuilt addon unless `GENLOSS_NATIVE=0` or this platform has none. */
export function loadAddon(env: NodeJS.ProcessEnv = process.env): AddonLoad {
  const platform = `${process.platform}-${process.arch}`;
  if (!NATIVE_PLATFORMS.includes(platform)) {
    return { reason: `no prebuilt binary for ${platform}`, expected: false };
  }
  if (env[NATIVE_ENV] === '0') return { reason: `${NATIVE_ENV}=0`, expected: true };
  const path = nativeBinaryPath(platform);
  if (!existsSync(path)) return { reason: `${path} is missing`, expected: true };
  try {
    return { addon: createRequire(import.meta.url)(path) as NativeAddon, expected: true };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { reason: `${path} did not load: ${message.split('\n')[0]}`, expected: true };
  }
}
