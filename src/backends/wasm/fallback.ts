import * as tf from '@tensorflow/tfjs';
import { asTypedArray, type TensorInfo, type WasmBackend } from './heap.ts';

/**
 * A wasm kernel that runs TF.js's cpu kernel of the same name: copy the inputs out of the wasm
 * heap, run the cpu kernel on the cpu backend, copy the outputs back. Each output is written with
 * its own dtype's typed array: the cpu backend keeps some int32 results (`MaxPoolWithArgmax`'s
 * indices) in a Float32Array, and the wasm heap copies bytes, so they must be converted.
 *
 * Used for kernels that are missing or wrong on wasm and are off the hot path of training.
 */
export function cpuFallback(kernelName: string): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const cpu = tf.findBackend('cpu');
      const config = tf.getKernel(kernelName, 'cpu');
      if (cpu === null || config === undefined) {
        throw new Error(`genloss: the wasm fallback for '${kernelName}' needs the cpu backend`);
      }
      const owned: tf.DataId[] = [];
      const toCpu = (info: TensorInfo): TensorInfo => {
        const dataId = cpu.write(wasm.readSync(info.dataId), info.shape, info.dtype);
        owned.push(dataId);
        return { dataId, shape: info.shape, dtype: info.dtype };
      };
      // Most kernels take named inputs; a few (Einsum, AddN, Concat) take an array.
      const cpuInputs = Array.isArray(inputs)
        ? (inputs as TensorInfo[]).map(toCpu)
        : Object.fromEntries(
            Object.entries(inputs).flatMap(([name, info]) =>
              info === undefined ? [] : [[name, toCpu(info)]],
            ),
          );
      try {
        const result = config.kernelFunc({
          inputs: cpuInputs as tf.NamedTensorInfoMap,
          backend: cpu,
          attrs,
        });
        const outputs = Array.isArray(result) ? result : [result];
        const copied = outputs.map((out) => {
          owned.push(out.dataId);
          const values = asTypedArray(cpu.readSync(out.dataId), out.dtype);
          return wasm.makeOutput(out.shape, out.dtype, undefined, values);
        });
        return Array.isArray(result) ? copied : copied[0];
      } finally {
        for (const dataId of new Set(owned)) cpu.disposeData(dataId, true);
      }
    },
  };
}
