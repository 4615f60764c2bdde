import * as tf from '@tensorflow/tfjs';
import { type SimdLossKernels, simdKernels, simdSobelKernels } from '../simd/instance.ts';
import { heapF32, offsetOf, release, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';
import { DERIVATIVE, type FusedLoss, jsGrad, jsSum, LOSS, type Span } from './pixel-loss-loops.ts';
import {
  type F32View,
  isWasm,
  type KernelArgs,
  kernelConfigs,
  newOutput,
  outputOf,
  viewsOf,
} from './runtime.ts';

// GenlossPixelLossSum([pred, target, weight?])      = Σ f(pred − target) · w   (per sample if perSample)
// GenlossPixelLossGrad([dy, pred, target, weight?]) = dy · f'(pred − target) · w
// A weight of one channel applies to all C channels of its pixel. f is |d|, d² or sqrt(d² + eps)
// (pixel-loss-loops.ts). Each kernel reads its inputs once: on wasm in the SIMD loss module, in
// place on the heap; on cpu, and on wasm without SIMD, in JS loops.

/** Kernel name: the weighted sum `Σ f(pred − target)·w`. */
export const PIXEL_LOSS_SUM = 'GenlossPixelLossSum';

/** Kernel name: the sum's gradient w.r.t. pred, `dy·f'(pred − target)·w`. */
export const PIXEL_LOSS_GRAD = 'GenlossPixelLossGrad';

/**
 * Attributes of both kernels. `perSample`: one sum per batch entry (shape `[N]`) instead of one
 * scalar; the gradient kernel then scales sample `n` by `dy[n]`.
 */
export interface PixelLossAttrs {
  loss: FusedLoss;
  eps: number;
  perSample: boolean;
}

/** How the elements of a kernel call split into samples and weight groups. */
interface Layout {
  samples: number;
  /** Elements per sample. */
  per: number;
  /** Weight elements per sample (0: no weight). */
  weightPer: number;
  /** Consecutive elements sharing one weight: 1, or C for a one-channel weight. */
  group: number;
}

function layout(pred: TensorInfo, weight: TensorInfo | undefined, perSample: boolean): Layout {
  const size = tf.util.sizeFromShape(pred.shape);
  const samples = perSample ? pred.shape[0] : 1;
  const per = size / samples;
  if (weight === undefined) return { samples, per, weightPer: 0, group: 1 };
  const weightSize = tf.util.sizeFromShape(weight.shape);
  return { samples, per, weightPer: weightSize / samples, group: size / weightSize };
}

/** Sample `n` of the views, for the JS loops. */
function span(p: F32View, t: F32View, w: F32View | null, n: number, l: Layout): Span {
  return {
    p: p.a,
    pAt: p.at + n * l.per,
    t: t.a,
    tAt: t.at + n * l.per,
    w: w === null ? null : w.a,
    wAt: w === null ? 0 : w.at + n * l.weightPer,
    count: l.per,
    group: l.group,
  };
}

/** The SIMD loss kernels where the backend is wasm and has them, else null (JS loops). */
function simdOf(backend: object): { wasm: WasmBackend; simd: SimdLossKernels } | null {
  if (!isWasm(backend)) return null;
  const simd = simdKernels(backend);
  return simd === null ? null : { wasm: backend, simd };
}

/** Byte offsets of sample `n`'s elements on the wasm heap (`w` = 0: no weight). */
type Offsets = { p: number; t: number; w: number };

function wasmOffsets(wasm: WasmBackend, pred: TensorInfo, target: TensorInfo, weight?: TensorInfo) {
  const p = offsetOf(wasm, pred);
  const t = offsetOf(wasm, target);
  const w = weight ? offsetOf(wasm, weight) : 0;
  return (n: number, l: Layout): Offsets => ({
    p: p + 4 * n * l.per,
    t: t + 4 * n * l.per,
    w: weight ? w + 4 * n * l.weightPer : 0,
  });
}

/** Pixels per chunk when a one-channel weight is expanded for the SIMD loops (fits in L1). */
const CHUNK_PIXELS = 1024;

/**
 * A one-channel weight over C channels: the SIMD kernels take one weight per element, so the
 * weight is expanded chunk by chunk into scratch (`expand` of the Sobel module) and each chunk
 * runs the same-shape kernel. Calls `run(p, t, w, count, done)` per chunk, `done` being the
 * elements of the sample before it. Returns false (nothing run) without the Sobel module.
 */
function inChunks(
  wasm: WasmBackend,
  at: Offsets,
  l: Layout,
  run: (p: number, t: number, w: number, count: number, done: number) => void,
): boolean {
  const sobel = simdSobelKernels(wasm);
  if (sobel === null) return false;
  const scratch = wasm.makeOutput([CHUNK_PIXELS * l.group], 'float32');
  const w = offsetOf(wasm, scratch);
  for (let pixel = 0; pixel < l.weightPer; pixel += CHUNK_PIXELS) {
    const pixels = Math.min(CHUNK_PIXELS, l.weightPer - pixel);
    const done = pixel * l.group;
    sobel.expand(w, at.w + 4 * pixel, pixels, l.group);
    run(at.p + 4 * done, at.t + 4 * done, w, pixels * l.group, done);
  }
  release(wasm, scratch);
  return true;
}

function simdSum(
  wasm: WasmBackend,
  simd: SimdLossKernels,
  loss: FusedLoss,
  eps: number,
  at: Offsets,
  l: Layout,
): number {
  if (at.w === 0) return simd[`sum_${loss}`](at.p, at.t, 0, l.per, eps);
  if (l.group === 1) return simd[`wsum_${loss}`](at.p, at.t, at.w, l.per, eps);
  let total = 0;
  const chunked = inChunks(wasm, at, l, (p, t, w, count) => {
    total += simd[`wsum_${loss}`](p, t, w, count, eps);
  });
  return chunked ? total : simd[`bsum_${loss}`](at.p, at.t, at.w, l.weightPer, l.group, eps);
}

function simdGrad(
  wasm: WasmBackend,
  simd: SimdLossKernels,
  loss: FusedLoss,
  eps: number,
  at: Offsets,
  l: Layout,
  out: number,
  scale: number,
): void {
  if (at.w === 0) {
    simd[`grad_${loss}`](out, at.p, at.t, 0, l.per, scale, eps);
  } else if (l.group === 1) {
    simd[`wgrad_${loss}`](out, at.p, at.t, at.w, l.per, scale, eps);
  } else {
    const chunked = inChunks(wasm, at, l, (p, t, w, count, done) => {
      simd[`wgrad_${loss}`](out + 4 * done, p, t, w, count, scale, eps);
    });
    if (!chunked) simd[`bgrad_${loss}`](out, at.p, at.t, at.w, l.weightPer, l.group, scale, eps);
  }
}

function sumKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const [pred, target, weight] = inputs;
  const { loss, eps, perSample } = attrs as unknown as PixelLossAttrs;
  const l = layout(pred, weight, perSample);
  const sums = new Float32Array(l.samples);
  const fast = simdOf(backend);
  if (fast) {
    const offsets = wasmOffsets(fast.wasm, pred, target, weight);
    for (let n = 0; n < l.samples; n++) {
      sums[n] = simdSum(fast.wasm, fast.simd, loss, eps, offsets(n, l), l);
    }
  } else {
    const [p, t, w] = viewsOf(backend, [pred, target, weight]);
    for (let n = 0; n < l.samples; n++) sums[n] = jsSum(LOSS[loss], eps, span(p!, t!, w, n, l));
  }
  return outputOf(backend, perSample ? [l.samples] : [], sums);
}

function gradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const [dy, pred, target, weight] = inputs;
  const { loss, eps, perSample } = attrs as unknown as PixelLossAttrs;
  const l = layout(pred, weight, perSample);
  const out = newOutput(backend, pred.shape);
  const fast = simdOf(backend);
  if (fast) {
    const { wasm, simd } = fast;
    const offsets = wasmOffsets(wasm, pred, target, weight);
    const dyAt = offsetOf(wasm, dy) / 4;
    for (let n = 0; n < l.samples; n++) {
      // Read per sample: the chunked path allocates scratch, which may grow the heap.
      const scale = heapF32(wasm)[dyAt + n];
      simdGrad(wasm, simd, loss, eps, offsets(n, l), l, 4 * (out.view.at + n * l.per), scale);
    }
  } else {
    const [d, p, t, w] = viewsOf(backend, [dy, pred, target, weight]);
    for (let n = 0; n < l.samples; n++) {
      const o = out.view.at + n * l.per;
      jsGrad(DERIVATIVE[loss], eps, span(p!, t!, w, n, l), out.view.a, o, d!.a[d!.at + n]);
    }
  }
  return out.finish();
}

/** Both pixel-loss kernels for `cpu` and `wasm`. */
export const PIXEL_LOSS_KERNELS: readonly tf.KernelConfig[] = [
  ...kernelConfigs(PIXEL_LOSS_SUM, sumKernel),
  ...kernelConfigs(PIXEL_LOSS_GRAD, gradKernel),
];
