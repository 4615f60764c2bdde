import * as tf from '@tensorflow/tfjs';
import { heapF32, offsetOf, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';

// The runtime every fused kernel shares: one kernel function serves `cpu` and `wasm` (it tells
// them apart with `isWasm`), reads and writes float32 tensors of either backend in place through
// `F32View`s, and runs on the tape through `runFused`.

/** What TF.js passes a kernel function. */
export interface KernelArgs {
  inputs: TensorInfo[];
  backend: object;
  attrs?: tf.NamedAttrMap;
}

/** A fused kernel's implementation, the same function on `cpu` and `wasm`. */
export type FusedKernelFunc = (args: KernelArgs) => TensorInfo;

/** The part of TF.js's `cpu` backend the kernels use. */
interface CpuBackend {
  data: { get(id: tf.DataId): { values: tf.backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
}

/** The backends that have fused kernels. */
const FUSED_BACKENDS = ['cpu', 'wasm'] as const;

/** Whether a kernel runs on the `wasm` backend (else on `cpu`). */
export function isWasm(backend: object): backend is WasmBackend {
  return 'wasm' in backend;
}

/**
 * A float32 tensor's data on either backend: an array and the index of the tensor's first element
 * in it (the wasm heap and the tensor's offset, or the cpu tensor's own values and 0). A wasm
 * view is detached by any later allocation on that backend.
 */
export interface F32View {
  a: Float32Array;
  at: number;
}

/** The views of `infos` (null for an absent optional input). */
export function viewsOf(backend: object, infos: (TensorInfo | undefined)[]): (F32View | null)[] {
  if (isWasm(backend)) {
    const heap = heapF32(backend);
    return infos.map((info) => (info ? { a: heap, at: offsetOf(backend, info) / 4 } : null));
  }
  const cpu = backend as CpuBackend;
  return infos.map((info) =>
    info ? { a: cpu.data.get(info.dataId).values as Float32Array, at: 0 } : null,
  );
}

/** A float32 output of `shape` filled from `values`. */
export function outputOf(backend: object, shape: number[], values: Float32Array): TensorInfo {
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, 'float32');
    heapF32(backend).set(values, offsetOf(backend, info) / 4);
    return info;
  }
  return (backend as CpuBackend).makeTensorInfo(shape, 'float32', values);
}

/** An output written in place: through `view`, then `finish()` returns it as a tensor. */
export interface Output {
  view: F32View;
  finish(): TensorInfo;
}

/**
 * A float32 output of `shape` to write in place: on wasm allocated on the heap up front (allocate
 * it before taking other views), on cpu a new array that `finish` hands to the backend.
 */
export function newOutput(backend: object, shape: number[]): Output {
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, 'float32');
    return { view: { a: heapF32(backend), at: offsetOf(backend, info) / 4 }, finish: () => info };
  }
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  return { view: { a: values, at: 0 }, finish: () => outputOf(backend, shape, values) };
}

/** The configs that register one kernel for every backend in {@link FUSED_BACKENDS}. */
export function kernelConfigs(kernelName: string, kernelFunc: FusedKernelFunc): tf.KernelConfig[] {
  return FUSED_BACKENDS.map((backendName) => ({
    kernelName,
    backendName,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  }));
}

/** Registers kernels (where none is registered) and their gradients. Idempotent. */
export function registerFused(
  kernels: readonly tf.KernelConfig[],
  gradients: readonly tf.GradConfig[],
): void {
  for (const config of kernels) {
    if (tf.getKernel(config.kernelName, config.backendName) === undefined) {
      tf.registerKernel(config);
    }
  }
  for (const config of gradients) {
    if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
  }
}

/** Whether the current backend has the fused kernel `name`. */
export function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * Runs a fused kernel on the tape; `undefined` and `null` entries (no weight) are dropped. The
 * inputs are an array, as AddN's, because the weight is optional: TF.js saves named inputs for the
 * gradient by name and cannot save one that is absent.
 */
export function runFused(
  name: string,
  inputs: (tf.Tensor | undefined | null)[],
  attrs: object = {},
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

/**
 * Sums an element-wise gradient to the weight's shape: over the channels (last axis) for a
 * one-channel weight, unchanged for a weight of pred's shape.
 */
export function toWeightShape(e: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  return weight.shape[weight.rank - 1] === e.shape[e.rank - 1] ? e : tf.sum(e, -1, true);
}
