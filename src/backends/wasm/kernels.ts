import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv.ts';
import { copyKernelConfigs } from './copy.ts';
import { cpuFallback } from './fallback.ts';
import { reductionConfigs } from './reduce.ts';
import { unsortedSegmentSumConfig } from './segment.ts';

/**
 * The wasm kernels genloss adds or replaces, so that the `wasm` backend can train any network the
 * losses and typical GAN models use (docs/performance.md has the table and measured errors):
 *
 * - `Conv2DBackpropFilter` (missing): a forward XNNPACK convolution of the transposed input with
 *   the output gradient.
 * - `Conv2DBackpropInput` (replaced: TF.js's is a plain loop, 5–15× slower than the forward
 *   convolution): one XNNPACK convolution with a per-stride-phase filter.
 * - `UnsortedSegmentSum` (the gradient of `gather`; missing): one pass over the heap.
 * - `DepthwiseConv2dNativeBackpropInput`, `DepthwiseConv2dNativeBackpropFilter`, `Einsum`
 *   (missing) and `MaxPoolGrad`,
 *   `MaxPoolWithArgmax` (replaced: wrong for batch ≥ 2 or maps ≥ 8×8): TF.js's cpu kernel on a
 *   copy of the data.
 * - `Slice`, `Concat`, `Pack`, `Unpack` (replaced: ~1 µs per element along the last axis or
 *   above rank 4, which made Sobel's `unstack` take 10 s): strided copies over merged axes.
 * - `Identity` (replaced: a copy of the data, which the engine makes of every tensor a gradient
 *   saves): the input's data shared, counted by reference; so is `Cast` to the same dtype
 *   (replaced: a copy, which gradients make of every float32 `dy`).
 * - `Sum` and `Mean` of a whole float32 tensor (replaced: float32 additions one after another, 5e-5
 *   off on 65536 elements): summed in double precision.
 */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  cpuFallback(tf.DepthwiseConv2dNativeBackpropInput),
  cpuFallback(tf.DepthwiseConv2dNativeBackpropFilter),
  unsortedSegmentSumConfig,
  cpuFallback(tf.Einsum),
  cpuFallback(tf.MaxPoolGrad),
  cpuFallback(tf.MaxPoolWithArgmax),
  ...copyKernelConfigs(),
  ...reductionConfigs(),
];

/**
 * Registers {@link WASM_KERNELS} for the `wasm` backend, replacing TF.js's own where it has one.
 * Idempotent. Works before or after the wasm backend is initialised: the kernels hold no state.
 */
export function registerWasmKernels(): void {
  for (const config of WASM_KERNELS) {
    if (tf.getKernel(config.kernelName, 'wasm') === config) continue;
    if (tf.getKernel(config.kernelName, 'wasm') !== undefined) {
      tf.unregisterKernel(config.kernelName, 'wasm');
    }
    tf.registerKernel(config);
  }
}
