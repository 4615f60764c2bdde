import * as tf from '@tensorflow/tfjs';
import { offsetOf, type TensorInfo, type WasmBackend } from './heap.ts';

/**
 * `UnsortedSegmentSum` (the gradient of `gather`), missing on wasm: `out[ids[i], …] += x[i, …]`
 * in one pass over x. Ids outside `[0, numSegments)` are dropped, as in TensorFlow. (TF.js's cpu
 * kernel builds one mask per segment: O(segments · size), 5 s for 1000×64 rows into 100.)
 */
export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackend;
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') {
      throw new Error(`genloss wasm UnsortedSegmentSum: dtype ${x.dtype} is not supported`);
    }
    const idCount = segmentIds.shape.reduce((a, b) => a * b, 1);
    const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
    const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
    const buffer = wasm.wasm.HEAPU8.buffer;
    const heap = x.dtype === 'int32' ? new Int32Array(buffer) : new Float32Array(buffer);
    const ids = new Int32Array(buffer, offsetOf(wasm, segmentIds), idCount);
    const src = offsetOf(wasm, x) / 4;
    const dst = offsetOf(wasm, out) / 4;
    heap.fill(0, dst, dst + numSegments * inner);
    for (let i = 0; i < idCount; i++) {
      const id = ids[i];
      if (id < 0 || id >= numSegments) continue;
      const from = src + i * inner;
      const to = dst + id * inner;
      for (let k = 0; k < inner; k++) heap[to + k] += heap[from + k];
    }
    return out;
  },
};
