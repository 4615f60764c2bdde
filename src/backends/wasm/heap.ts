import * as tf from '@tensorflow/tfjs';

/** A tensor as kernels see it: data id, shape and dtype, no engine bookkeeping. */
export type TensorInfo = tf.TensorInfo;

/**
 * The part of `@tensorflow/tfjs-backend-wasm`'s `BackendWasm` our kernels use. The package's
 * class is not exported from its entry point, so we name what we rely on.
 */
export interface WasmBackend {
  wasm: {
    HEAPU8: Uint8Array;
    asm?: { memory?: WebAssembly.Memory };
  };
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } | undefined };
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: tf.backend_util.BackendValues,
  ): TensorInfo;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  /** One more holder of a tensor's data (freed with its last holder). */
  incRef(dataId: tf.DataId): void;
}

/** The byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: WasmBackend, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error(`genloss wasm kernels: unknown tensor ${info.shape}`);
  return data.memoryOffset;
}

/** The wasm heap's ArrayBuffer (re-read after every allocation: growing the heap replaces it). */
export const heapOf = (backend: WasmBackend): ArrayBuffer =>
  backend.wasm.HEAPU8.buffer as ArrayBuffer;

/**
 * A config for the kernel `original` (a `wasm` kernel) whose kernel tries `run` and hands what
 * `run` declines (null) to `original`; `run` may call `fallback` itself.
 */
export function replacingKernel(
  original: tf.KernelConfig,
  run: (args: Parameters<tf.KernelFunc>[0], fallback: () => TensorInfo) => TensorInfo | null,
): tf.KernelConfig {
  return {
    kernelName: original.kernelName,
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: (args) => {
      const fallback = () => original.kernelFunc(args) as TensorInfo;
      return run(args, fallback) ?? fallback();
    },
  };
}

/**
 * A float32 view of the whole wasm heap. Any allocation (`makeOutput`, a kernel call) may grow
 * the heap and detach earlier views, so take the view after the last allocation of a kernel.
 */
export function heapF32(backend: WasmBackend): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer);
}

/** The kernel registered now for `name` on the wasm backend (an error where there is none). */
export function wasmKernel(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, 'wasm');
  if (config === undefined) throw new Error(`genloss: no '${name}' kernel for TF.js-wasm`);
  return config;
}

/** Runs another kernel of the wasm backend on kernel-level tensors (nothing is taped). */
export function callKernel(
  backend: WasmBackend,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: object = {},
): TensorInfo {
  return wasmKernel(name).kernelFunc({
    inputs,
    backend: backend as unknown as tf.KernelBackend,
    attrs: attrs as tf.NamedAttrMap,
  }) as TensorInfo;
}

/** Frees kernel-level intermediates. */
export function release(backend: WasmBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** `values` as the typed array of `dtype`, converting (not reinterpreting) where they differ. */
export function asTypedArray(
  values: tf.backend_util.BackendValues,
  dtype: tf.DataType,
): tf.backend_util.TypedArray {
  const kind = dtype === 'int32' ? Int32Array : dtype === 'bool' ? Uint8Array : Float32Array;
  return values instanceof kind ? values : kind.from(values as ArrayLike<number>);
}
