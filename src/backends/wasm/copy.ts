import * as tf from '@tensorflow/tfjs';
import {
  offsetOf,
  replacingKernel,
  type TensorInfo,
  type WasmBackend,
  wasmKernel,
} from './heap.ts';

// TF.js-wasm's Slice, Concat, Pack and Unpack are JS loops that call `TypedArray.set` once per
// innermost row, and fall back to a per-element index computation above rank 4. Slicing or
// stacking along the last axis (Sobel's `unstack` of [gx, gy], the pooling gradients' strided
// views) therefore costs ~1 µs per element: `unstack` of a 16×256×256×3×2 tensor takes 10 s.
// These replacements merge contiguous axes first, then copy long runs with `copyWithin` and
// short runs with a plain loop: a few ns per element at any rank.

type HeapView = Float32Array | Int32Array | Uint8Array;

function heapView(backend: WasmBackend, dtype: tf.DataType): HeapView {
  const buffer = backend.wasm.HEAPU8.buffer;
  if (dtype === 'int32') return new Int32Array(buffer);
  if (dtype === 'bool') return new Uint8Array(buffer);
  return new Float32Array(buffer);
}

/** Element offset of a tensor in a heap view of its dtype. */
function elementOffset(backend: WasmBackend, info: TensorInfo): number {
  return offsetOf(backend, info) / (info.dtype === 'bool' ? 1 : 4);
}

const RUN_FOR_COPY_WITHIN = 16;

/**
 * Copies a strided block inside one heap view: element `idx` (a multi-index over `shape`) goes
 * from `src + Σ idx·srcStrides` to `dst + Σ idx·dstStrides`. Both innermost strides must be 1.
 * Axes that are contiguous in both source and destination are merged first.
 */
export function copyBlock(
  heap: HeapView,
  src: number,
  srcStrides: number[],
  dst: number,
  dstStrides: number[],
  shape: number[],
): void {
  const dims: { size: number; s: number; d: number }[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const dim = { size: shape[i], s: srcStrides[i], d: dstStrides[i] };
    const last = dims[dims.length - 1];
    if (last && last.s === dim.size * dim.s && last.d === dim.size * dim.d) {
      last.size *= dim.size;
      last.s = dim.s;
      last.d = dim.d;
    } else {
      dims.push(dim);
    }
  }
  if (shape.some((s) => s === 0)) return;
  if (dims.length === 0 || dims[dims.length - 1].s !== 1 || dims[dims.length - 1].d !== 1) {
    dims.push({ size: 1, s: 1, d: 1 });
  }
  const run = dims[dims.length - 1].size;
  const outer = dims.slice(0, -1);
  const counter = new Array(outer.length).fill(0);
  let s = src;
  let d = dst;
  for (;;) {
    if (run >= RUN_FOR_COPY_WITHIN) {
      heap.copyWithin(d, s, s + run);
    } else {
      for (let k = 0; k < run; k++) heap[d + k] = heap[s + k];
    }
    let axis = outer.length - 1;
    while (axis >= 0) {
      counter[axis] += 1;
      s += outer[axis].s;
      d += outer[axis].d;
      if (counter[axis] < outer[axis].size) break;
      s -= outer[axis].s * outer[axis].size;
      d -= outer[axis].d * outer[axis].size;
      counter[axis] = 0;
      axis -= 1;
    }
    if (axis < 0) return;
  }
}

function sliceInfo(
  backend: WasmBackend,
  x: TensorInfo,
  begin: number[],
  size: number[],
): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const heap = heapView(backend, x.dtype);
  const strides = [...tf.util.computeStrides(x.shape), 1];
  const start = elementOffset(backend, x) + begin.reduce((acc, b, i) => acc + b * strides[i], 0);
  copyBlock(
    heap,
    start,
    strides,
    elementOffset(backend, out),
    [...tf.util.computeStrides(size), 1],
    size,
  );
  return out;
}

/** `Slice` for every dtype but string (strings keep TF.js's kernel). */
function sliceConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Slice,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype === 'string') return original.kernelFunc(args);
      const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
      const [b, s] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, begin, size);
      return sliceInfo(args.backend as unknown as WasmBackend, x, b, s);
    },
  };
}

function concatInfos(backend: WasmBackend, inputs: TensorInfo[], axis: number): TensorInfo {
  const outShape = tf.backend_util.computeOutShape(
    inputs.map((t) => t.shape),
    axis,
  );
  const out = backend.makeOutput(outShape, inputs[0].dtype);
  const heap = heapView(backend, inputs[0].dtype);
  const outer = outShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const rowLength = outShape.slice(axis).reduce((a, b) => a * b, 1);
  let column = elementOffset(backend, out);
  for (const input of inputs) {
    const inner = input.shape.slice(axis).reduce((a, b) => a * b, 1);
    if (inner === 0) continue;
    copyBlock(
      heap,
      elementOffset(backend, input),
      [inner, 1],
      column,
      [rowLength, 1],
      [outer, inner],
    );
    column += inner;
  }
  return out;
}

function concatConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Concat,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const inputs = args.inputs as unknown as TensorInfo[];
      const nonEmpty = inputs.filter((t) => t.shape.every((s) => s > 0));
      if (inputs[0].dtype === 'string' || nonEmpty.length < 2) return original.kernelFunc(args);
      const axis = tf.util.parseAxisParam(
        (args.attrs as unknown as tf.ConcatAttrs).axis,
        inputs[0].shape,
      )[0];
      tf.backend_util.assertParamsConsistent(
        inputs.map((t) => t.shape),
        axis,
      );
      return concatInfos(args.backend as unknown as WasmBackend, inputs, axis);
    },
  };
}

/** `Pack` (stack): the inputs viewed with a size-1 axis, concatenated along it. */
function packConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Pack,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const inputs = args.inputs as unknown as TensorInfo[];
      if (inputs.length < 2 || inputs[0].dtype === 'string') return original.kernelFunc(args);
      const rank = inputs[0].shape.length;
      let { axis } = args.attrs as unknown as tf.PackAttrs;
      if (axis < 0) axis += rank + 1;
      for (const t of inputs) {
        tf.util.assertShapesMatch(
          inputs[0].shape,
          t.shape,
          'All tensors passed to stack must have matching shapes',
        );
      }
      const expanded = inputs.map((t) => ({
        ...t,
        shape: [...t.shape.slice(0, axis), 1, ...t.shape.slice(axis)],
      }));
      return concatInfos(args.backend as unknown as WasmBackend, expanded, axis);
    },
  };
}

/** `Unpack` (unstack): one slice per entry along the axis, each without that axis. */
function unpackConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Unpack,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { value } = args.inputs as { value: TensorInfo };
      if (value.dtype === 'string') return original.kernelFunc(args);
      const backend = args.backend as unknown as WasmBackend;
      let { axis } = args.attrs as unknown as tf.UnpackAttrs;
      if (axis < 0) axis += value.shape.length;
      const outShape = value.shape.filter((_, i) => i !== axis);
      const size = value.shape.map((s, i) => (i === axis ? 1 : s));
      return Array.from({ length: value.shape[axis] }, (_, k) => {
        const begin = value.shape.map((_, i) => (i === axis ? k : 0));
        return { ...sliceInfo(backend, value, begin, size), shape: outShape };
      });
    },
  };
}

/**
 * `Identity` without a copy: the output shares the input's data, counted by reference (the wasm
 * backend frees it with its last holder), as TF.js's cpu `Identity` and wasm's own `Reshape` do.
 * TF.js-wasm's copies it; the engine runs `Identity` to keep each tensor a gradient saves, so a
 * gradient-penalty step copied ~60 MB (14 saves of its 4 MB activations alone), and a GAN loss
 * copies its patch map twice per step. Tensors are immutable and kernels write only fresh
 * outputs, so sharing is safe.
 */
const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x } = inputs as { x: TensorInfo };
    (backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};

/**
 * `Cast` to the tensor's own dtype shares its data as {@link identityConfig} does (TF.js-wasm's
 * copies it: gradients cast every float32 `dy` to float32, 7 copies of each activation in a
 * gradient-penalty step); other casts run `original`.
 */
function castConfig(original: tf.KernelConfig): tf.KernelConfig {
  return replacingKernel(original, (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    return x.dtype === dtype ? (identityConfig.kernelFunc(args) as TensorInfo) : null;
  });
}

/**
 * The four copy replacements, each keeping TF.js's kernel for string tensors, `Identity`, and
 * `Cast` to the same dtype.
 */
export function copyKernelConfigs(): tf.KernelConfig[] {
  return [
    sliceConfig(wasmKernel(tf.Slice)),
    concatConfig(wasmKernel(tf.Concat)),
    packConfig(wasmKernel(tf.Pack)),
    unpackConfig(wasmKernel(tf.Unpack)),
    identityConfig,
    castConfig(wasmKernel(tf.Cast)),
  ];
}
