import type { WasmBackend } from '../wasm/heap.ts';
import {
  SIMD_GAN_MODULE_BASE64,
  SIMD_LOSS_MODULE_BASE64,
  SIMD_SOBEL_MODULE_BASE64,
} from './module.ts';

type Sum = (p: number, t: number, w: number, n: number, eps: number) => number;
type BroadcastSum = (
  p: number,
  t: number,
  w: number,
  pixels: number,
  c: number,
  eps: number,
) => number;
type Grad = (
  out: number,
  p: number,
  t: number,
  w: number,
  n: number,
  scale: number,
  eps: number,
) => void;
type BroadcastGrad = (
  out: number,
  p: number,
  t: number,
  w: number,
  pixels: number,
  c: number,
  scale: number,
  eps: number,
) => void;

/** The exports of the SIMD loss module (src/backends/simd/source.ts documents each). */
export type SimdLossKernels = Record<`${'sum' | 'wsum'}_${string}`, Sum> &
  Record<`bsum_${string}`, BroadcastSum> &
  Record<`${'grad' | 'wgrad'}_${string}`, Grad> &
  Record<`bgrad_${string}`, BroadcastGrad>;

/** The exports of the SIMD Sobel row module (src/backends/simd/source.ts documents each). */
export interface SimdSobelKernels {
  sub_rows(out: number, p: number, t: number, n: number): void;
  vert(
    s: number,
    e: number,
    a: number,
    h: number,
    b: number,
    ea: number,
    eb: number,
    n: number,
  ): void;
  hsum(s: number, e: number, w: number, n: number, c: number): number;
  hsign(
    s: number,
    e: number,
    w: number,
    ax: number,
    ay: number,
    n: number,
    c: number,
    scale: number,
  ): void;
  hout(s: number, e: number, out: number, n: number, c: number): void;
  expand(out: number, w: number, pixels: number, c: number): void;
}

/**
 * The exports of the SIMD GAN-loss module (src/backends/simd/source.ts documents each): `n` a
 * multiple of 4, addresses in bytes.
 */
export interface SimdGanKernels {
  sum_bce(x: number, n: number, c: number): number;
  grad_bce(out: number, x: number, n: number, c: number, scale: number): void;
  sum_square(x: number, n: number, c: number): number;
  grad_square(out: number, x: number, n: number, c: number, scale: number): void;
  sum_hinge(x: number, n: number, c: number): number;
  grad_hinge(out: number, x: number, n: number, c: number, scaleTimesC: number): void;
  sum_linear(x: number, n: number): number;
}

const SOURCES = {
  loss: SIMD_LOSS_MODULE_BASE64,
  sobel: SIMD_SOBEL_MODULE_BASE64,
  gan: SIMD_GAN_MODULE_BASE64,
};
type Part = keyof typeof SOURCES;

const compiled: Partial<Record<Part, WebAssembly.Module | null>> = {};
const instances: Record<Part, WeakMap<object, object | null>> = {
  loss: new WeakMap(),
  sobel: new WeakMap(),
  gan: new WeakMap(),
};
let enabled = true;

/**
 * Turns the SIMD kernels off (the fused kernels then run their JS loops) or back on: for tests
 * and measurements of the fallback.
 */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

function compile(part: Part): WebAssembly.Module | null {
  if (compiled[part] === undefined) {
    try {
      const bytes = Uint8Array.from(atob(SOURCES[part]), (c) => c.charCodeAt(0));
      compiled[part] = new WebAssembly.Module(bytes);
    } catch {
      // No WebAssembly SIMD here (or no synchronous compile): the JS loops run instead.
      compiled[part] = null;
    }
  }
  return compiled[part] ?? null;
}

/**
 * One SIMD module bound to this wasm backend's memory, or null where it cannot run: no SIMD, or
 * a backend whose memory is not exported (the multi-threaded build shares an imported memory).
 * Instantiated once per backend.
 */
function instance(part: Part, backend: WasmBackend): object | null {
  if (!enabled) return null;
  let exports = instances[part].get(backend);
  if (exports === undefined) {
    exports = null;
    const memory = backend.wasm.asm?.memory;
    const module = compile(part);
    if (module && memory instanceof WebAssembly.Memory) {
      try {
        exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
      } catch {
        exports = null;
      }
    }
    instances[part].set(backend, exports);
  }
  return exports;
}

/** The SIMD loss kernels on this wasm backend's memory, or null (see `instance`). */
export function simdKernels(backend: WasmBackend): SimdLossKernels | null {
  return instance('loss', backend) as SimdLossKernels | null;
}

/** The SIMD Sobel row kernels on this wasm backend's memory, or null. */
export function simdSobelKernels(backend: WasmBackend): SimdSobelKernels | null {
  return instance('sobel', backend) as SimdSobelKernels | null;
}

/** The SIMD GAN-loss kernels on this wasm backend's memory, or null. */
export function simdGanKernels(backend: WasmBackend): SimdGanKernels | null {
  return instance('gan', backend) as SimdGanKernels | null;
}
