import type { WasmBackend } from '../wasm/heap.ts';
import { SIMD_MODULE_BASE64 } from './module.ts';

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

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<object, SimdLossKernels | null>();
let enabled = true;

/**
 * Turns the SIMD kernels off (the fused kernels then run their JS loops) or back on: for tests
 * and measurements of the fallback.
 */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

function compile(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      const bytes = Uint8Array.from(atob(SIMD_MODULE_BASE64), (c) => c.charCodeAt(0));
      compiled = new WebAssembly.Module(bytes);
    } catch {
      // No WebAssembly SIMD here (or no synchronous compile): the JS loops run instead.
      compiled = null;
    }
  }
  return compiled;
}

/**
 * The SIMD loss kernels bound to this wasm backend's memory, or null where they cannot run: no
 * SIMD, or a backend whose memory is not exported (the multi-threaded build shares an imported
 * memory). Instantiated once per backend.
 */
export function simdKernels(backend: WasmBackend): SimdLossKernels | null {
  if (!enabled) return null;
  let kernels = instances.get(backend);
  if (kernels === undefined) {
    kernels = null;
    const memory = backend.wasm.asm?.memory;
    const module = compile();
    if (module && memory instanceof WebAssembly.Memory) {
      try {
        const instance = new WebAssembly.Instance(module, { env: { memory } });
        kernels = instance.exports as unknown as SimdLossKernels;
      } catch {
        kernels = null;
      }
    }
    instances.set(backend, kernels);
  }
  return kernels;
}
