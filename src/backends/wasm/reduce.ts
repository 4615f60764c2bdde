import * as tf from '@tensorflow/tfjs';
import {
  heapF32,
  offsetOf,
  replacingKernel,
  type TensorInfo,
  type WasmBackend,
  wasmKernel,
} from './heap.ts';

/**
 * `Sum` and `Mean` of a whole float32 tensor summed in double precision, as TF.js's cpu backend
 * and PyTorch's pairwise sums come out; `original` (TF.js-wasm's kernel) does the rest.
 * TF.js-wasm's kernel adds in float32 one element after another: on a gradient penalty's 65536
 * pixel norms its mean is 5e-5 (relative) off the double-precision value, which this one matches
 * to float32 rounding.
 */
function wholeTensorConfig(original: tf.KernelConfig, mean: boolean): tf.KernelConfig {
  return replacingKernel(original, (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    if (x.dtype !== 'float32' || rank === 0 || new Set(axes).size !== rank) return null;
    const backend = args.backend as unknown as WasmBackend;
    const size = tf.util.sizeFromShape(x.shape);
    const out = backend.makeOutput(keepDims ? x.shape.map(() => 1) : [], 'float32');
    const heap = heapF32(backend);
    const start = offsetOf(backend, x) / 4;
    let total = 0;
    for (let i = start; i < start + size; i++) total += heap[i];
    heap[offsetOf(backend, out) / 4] = mean ? total / size : total;
    return out;
  });
}

/** The whole-tensor `Sum` and `Mean`, each keeping TF.js's kernel for other reductions. */
export function reductionConfigs(): tf.KernelConfig[] {
  return [
    wholeTensorConfig(wasmKernel(tf.Sum), false),
    wholeTensorConfig(wasmKernel(tf.Mean), true),
  ];
}
