import * as tf from '@tensorflow/tfjs';
import { type SimdLossKernels, simdKernels, simdSobelKernels } from '../simd/instance.ts';
import { heapF32, offsetOf, release, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';

/** The element-wise losses with fused kernels. */
export type FusedLoss = 'l1' | 'mse' | 'charbonnier';

/** Kernel names: the weighted sum, and its gradient w.r.t. pred. */
export const PIXEL_LOSS_SUM = 'GenlossPixelLossSum';
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

// ── The kernels ──────────────────────────────────────────────────────────────────────────────
// GenlossPixelLossSum([pred, target, weight?])      = Σ f(pred − target) · w   (per sample if perSample)
// GenlossPixelLossGrad([dy, pred, target, weight?]) = dy · f'(pred − target) · w
// The inputs are arrays, as AddN's, because the weight is optional: TF.js saves named inputs for
// the gradient by name and cannot save one that is absent.
// A weight of one channel applies to all C channels of its pixel. f is |d|, d² or sqrt(d² + eps);
// f' is sign(d) (0 at 0), 2d or d / sqrt(d² + eps). Each kernel reads its inputs once.

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

function sizeOf(info: TensorInfo): number {
  return info.shape.reduce((a, b) => a * b, 1);
}

function layout(pred: TensorInfo, weight: TensorInfo | undefined, perSample: boolean): Layout {
  const size = sizeOf(pred);
  const samples = perSample ? pred.shape[0] : 1;
  const per = size / samples;
  if (weight === undefined) return { samples, per, weightPer: 0, group: 1 };
  const weightSize = sizeOf(weight);
  return { samples, per, weightPer: weightSize / samples, group: size / weightSize };
}

type ElementFn = (d: number, eps: number) => number;

const fsqrt = (x: number) => Math.fround(Math.sqrt(x));

const LOSS: Record<FusedLoss, ElementFn> = {
  l1: (d) => Math.abs(d),
  mse: (d) => Math.fround(d * d),
  charbonnier: (d, eps) => fsqrt(Math.fround(Math.fround(d * d) + eps)),
};

const DERIVATIVE: Record<FusedLoss, ElementFn> = {
  l1: (d) => (d > 0 ? 1 : d < 0 ? -1 : 0),
  mse: (d) => 2 * d,
  charbonnier: (d, eps) => d / fsqrt(Math.fround(Math.fround(d * d) + eps)),
};

/** Where one sample's elements are: arrays and start indices (p and t may share one heap). */
interface Span {
  p: Float32Array;
  pAt: number;
  t: Float32Array;
  tAt: number;
  /** null: no weight. */
  w: Float32Array | null;
  wAt: number;
  count: number;
  group: number;
}

/** `Σ f(p − t)·w` over one span, in JS (cpu backend, and wasm without SIMD). */
function jsSum(f: ElementFn, eps: number, s: Span): number {
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
function jsGrad(
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

interface KernelArgs {
  inputs: TensorInfo[];
  backend: object;
  attrs?: tf.NamedAttrMap;
}

type CpuBackend = {
  data: { get(id: tf.DataId): { values: tf.backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
};

function cpuSpan(backend: CpuBackend, pred: TensorInfo, target: TensorInfo, weight?: TensorInfo) {
  const values = (info: TensorInfo) => backend.data.get(info.dataId).values as Float32Array;
  return (n: number, l: Layout): Span => ({
    p: values(pred),
    pAt: n * l.per,
    t: values(target),
    tAt: n * l.per,
    w: weight ? values(weight) : null,
    wAt: n * l.weightPer,
    count: l.per,
    group: l.group,
  });
}

function cpuSum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const cpu = backend as CpuBackend;
  const [pred, target, weight] = inputs;
  const { loss, eps, perSample } = attrs as unknown as PixelLossAttrs;
  const l = layout(pred, weight, perSample);
  const span = cpuSpan(cpu, pred, target, weight);
  const out = new Float32Array(l.samples);
  for (let n = 0; n < l.samples; n++) out[n] = jsSum(LOSS[loss], eps, span(n, l));
  return cpu.makeTensorInfo(perSample ? [l.samples] : [], 'float32', out);
}

function cpuGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const cpu = backend as CpuBackend;
  const [dy, pred, target, weight] = inputs;
  const { loss, eps, perSample } = attrs as unknown as PixelLossAttrs;
  const l = layout(pred, weight, perSample);
  const span = cpuSpan(cpu, pred, target, weight);
  const scales = cpu.data.get(dy.dataId).values as Float32Array;
  const out = new Float32Array(sizeOf(pred));
  for (let n = 0; n < l.samples; n++) {
    jsGrad(DERIVATIVE[loss], eps, span(n, l), out, n * l.per, scales[n]);
  }
  return cpu.makeTensorInfo(pred.shape, 'float32', out);
}

/** Byte offsets of one sample's elements on the wasm heap. */
function wasmOffsets(wasm: WasmBackend, pred: TensorInfo, target: TensorInfo, weight?: TensorInfo) {
  const p = offsetOf(wasm, pred);
  const t = offsetOf(wasm, target);
  const w = weight ? offsetOf(wasm, weight) : 0;
  return (n: number, l: Layout) => ({
    p: p + 4 * n * l.per,
    t: t + 4 * n * l.per,
    w: weight ? w + 4 * n * l.weightPer : 0,
  });
}

function heapSpan(heap: Float32Array, at: { p: number; t: number; w: number }, l: Layout): Span {
  return {
    p: heap,
    pAt: at.p / 4,
    t: heap,
    tAt: at.t / 4,
    w: at.w === 0 ? null : heap,
    wAt: at.w / 4,
    count: l.per,
    group: l.group,
  };
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
  at: { p: number; t: number; w: number },
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
  at: { p: number; t: number; w: number },
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

function wasmSum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const wasm = backend as WasmBackend;
  const [pred, target, weight] = inputs;
  const { loss, eps, perSample } = attrs as unknown as PixelLossAttrs;
  const l = layout(pred, weight, perSample);
  const out = wasm.makeOutput(perSample ? [l.samples] : [], 'float32');
  const simd = simdKernels(wasm);
  const offsets = wasmOffsets(wasm, pred, target, weight);
  const sums = new Float32Array(l.samples);
  for (let n = 0; n < l.samples; n++) {
    const at = offsets(n, l);
    sums[n] = simd
      ? simdSum(wasm, simd, loss, eps, at, l)
      : jsSum(LOSS[loss], eps, heapSpan(heapF32(wasm), at, l));
  }
  heapF32(wasm).set(sums, offsetOf(wasm, out) / 4);
  return out;
}

function wasmGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const wasm = backend as WasmBackend;
  const [dy, pred, target, weight] = inputs;
  const { loss, eps, perSample } = attrs as unknown as PixelLossAttrs;
  const l = layout(pred, weight, perSample);
  const out = wasm.makeOutput(pred.shape, 'float32');
  const simd = simdKernels(wasm);
  const offsets = wasmOffsets(wasm, pred, target, weight);
  const dyAt = offsetOf(wasm, dy) / 4;
  const outAt = offsetOf(wasm, out);
  for (let n = 0; n < l.samples; n++) {
    const at = offsets(n, l);
    const scale = heapF32(wasm)[dyAt + n];
    const o = outAt + 4 * n * l.per;
    if (simd === null) {
      const heap = heapF32(wasm);
      jsGrad(DERIVATIVE[loss], eps, heapSpan(heap, at, l), heap, o / 4, scale);
    } else if (at.w === 0) {
      simd[`grad_${loss}`](o, at.p, at.t, 0, l.per, scale, eps);
    } else if (l.group === 1) {
      simd[`wgrad_${loss}`](o, at.p, at.t, at.w, l.per, scale, eps);
    } else {
      const chunked = inChunks(wasm, at, l, (p, t, w, count, done) => {
        simd[`wgrad_${loss}`](o + 4 * done, p, t, w, count, scale, eps);
      });
      if (!chunked) simd[`bgrad_${loss}`](o, at.p, at.t, at.w, l.weightPer, l.group, scale, eps);
    }
  }
  return out;
}

/** The fused kernels, for the backends that have them: `cpu` (JS loops) and `wasm` (SIMD). */
export const PIXEL_LOSS_KERNELS: readonly tf.KernelConfig[] = [
  {
    kernelName: PIXEL_LOSS_SUM,
    backendName: 'cpu',
    kernelFunc: cpuSum as unknown as tf.KernelFunc,
  },
  {
    kernelName: PIXEL_LOSS_GRAD,
    backendName: 'cpu',
    kernelFunc: cpuGrad as unknown as tf.KernelFunc,
  },
  {
    kernelName: PIXEL_LOSS_SUM,
    backendName: 'wasm',
    kernelFunc: wasmSum as unknown as tf.KernelFunc,
  },
  {
    kernelName: PIXEL_LOSS_GRAD,
    backendName: 'wasm',
    kernelFunc: wasmGrad as unknown as tf.KernelFunc,
  },
];

// ── Gradients ────────────────────────────────────────────────────────────────────────────────
// Both kernels get gradients made of taped kernels, so every order of differentiation holds.
// f' is odd for all three losses, so the target gradient is the pred gradient with the two
// swapped. Gradients that are rarely needed (w.r.t. weight, and the second order) use op chains.

/** Runs a fused kernel on the tape; `undefined` entries (no weight) are dropped. */
export function runFused(
  name: string,
  inputs: (tf.Tensor | undefined | null)[],
  attrs: PixelLossAttrs | Record<string, never>,
): tf.Tensor {
  const present = inputs.filter((t): t is tf.Tensor => t !== undefined && t !== null);
  return tf
    .engine()
    .runKernel<tf.Tensor>(
      name,
      present as unknown as tf.NamedTensorMap,
      attrs as unknown as tf.NamedAttrMap,
    );
}

/** `f(d)` as ops. */
function lossOps(loss: FusedLoss, d: tf.Tensor, eps: number): tf.Tensor {
  if (loss === 'l1') return tf.abs(d);
  if (loss === 'mse') return tf.square(d);
  return tf.sqrt(tf.add(tf.square(d), eps));
}

/** `f'(d)` as ops. */
function derivativeOps(loss: FusedLoss, d: tf.Tensor, eps: number): tf.Tensor {
  if (loss === 'l1') return tf.sign(d);
  if (loss === 'mse') return tf.mul(d, 2);
  return tf.div(d, tf.sqrt(tf.add(tf.square(d), eps)));
}

/** `f''(d)` as ops (0 for L1, whose derivative is piecewise constant). */
function secondDerivativeOps(loss: FusedLoss, d: tf.Tensor, eps: number): tf.Tensor {
  if (loss === 'l1') return tf.zerosLike(d);
  if (loss === 'mse') return tf.fill(d.shape, 2);
  return tf.div(eps, tf.pow(tf.add(tf.square(d), eps), 1.5));
}

/** `dy` (scalar, or `[N]` per sample) shaped to broadcast against an N×… tensor of `rank`. */
function perSampleScale(dy: tf.Tensor, rank: number): tf.Tensor {
  return dy.rank === 0 ? dy : tf.reshape(dy, [dy.shape[0], ...Array(rank - 1).fill(1)]);
}

/** Sums an element tensor to the weight's shape (over channels for a one-channel weight). */
function toWeightShape(e: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  return weight.shape[weight.rank - 1] === e.shape[e.rank - 1] ? e : tf.sum(e, -1, true);
}

/** Sums an element tensor to dy's shape: everything, or everything but the batch axis. */
function toScaleShape(e: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  if (dy.rank === 0) return tf.sum(e);
  return tf.sum(
    e,
    Array.from({ length: e.rank - 1 }, (_, i) => i + 1),
  );
}

const sumGradient: tf.GradConfig = {
  kernelName: PIXEL_LOSS_SUM,
  saveAllInputs: true,
  gradFunc: (dy, saved, attrs) => {
    const [pred, target, weight] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const a = attrs as unknown as PixelLossAttrs;
    const scale = dy as tf.Tensor;
    return {
      0: () => runFused(PIXEL_LOSS_GRAD, [scale, pred, target, weight], a),
      1: () => runFused(PIXEL_LOSS_GRAD, [scale, target, pred, weight], a),
      2: () => {
        const e = lossOps(a.loss, tf.sub(pred, target), a.eps);
        return toWeightShape(tf.mul(e, perSampleScale(scale, e.rank)), weight as tf.Tensor);
      },
    };
  },
};

const gradGradient: tf.GradConfig = {
  kernelName: PIXEL_LOSS_GRAD,
  saveAllInputs: true,
  gradFunc: (upstream, saved, attrs) => {
    const [dy, pred, target, weight] = saved as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor | undefined,
    ];
    const a = attrs as unknown as PixelLossAttrs;
    const u = upstream as tf.Tensor;
    const d = () => tf.sub(pred, target);
    const scaled = () => {
      const s = tf.mul(u, perSampleScale(dy, u.rank));
      return weight ? tf.mul(s, weight) : s;
    };
    const wrtPred = () => tf.mul(scaled(), secondDerivativeOps(a.loss, d(), a.eps));
    return {
      0: () => {
        const e = tf.mul(u, derivativeOps(a.loss, d(), a.eps));
        return toScaleShape(weight ? tf.mul(e, weight) : e, dy);
      },
      1: wrtPred,
      2: () => tf.neg(wrtPred()),
      3: () => {
        const e = tf.mul(tf.mul(u, perSampleScale(dy, u.rank)), derivativeOps(a.loss, d(), a.eps));
        return toWeightShape(e, weight as tf.Tensor);
      },
    };
  },
};

/** The gradients of both kernels. */
export const PIXEL_LOSS_GRADIENTS: readonly tf.GradConfig[] = [sumGradient, gradGradient];
