/**
 * Native convolution, matrix-product and element-wise kernels for TF.js's `wasm` backend on Node
 * (native/genloss-native.c: XNNPACK and its own loops, multi-threaded, reading and writing the
 * wasm heap in place), from the prebuilt binary in `prebuilds/<platform>-<arch>/`. Node-only: the
 * browser entry point never imports this module (src/core/backend.ts loads it on Node).
 * docs/performance.md has the measurements.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { wasmKernel } from '../wasm/heap.ts';
import { loadAddon } from './addon.ts';
import { ELEMENTWISE_KERNEL_NAMES, elementwiseKernels } from './elementwise.ts';
import { GAN_LOSS_KERNEL_NAMES, ganLossKernels } from './gan-loss.ts';
import { type NativeKernels, nativeKernels } from './kernels.ts';

export { NATIVE_ENV, nativeBinaryPath } from './addon.ts';

/** Where the native kernels stand: `active`, else `reason` says why the wasm ones run. */
export interface NativeKernelStatus {
  active: boolean;
  reason?: string;
  /** Threads the native kernels run on (`GENLOSS_NATIVE_THREADS`, else 1). */
  threads?: number;
  /** XNNPACK operators with packed filters held now. */
  cachedOperators: number;
}

/** Options of {@link enableNativeKernels}. */
export interface NativeKernelOptions {
  /**
   * Most operators with packed filters kept between calls (a convolution and its input
   * gradient each hold one per live filter tensor). 0 packs the filter on every call. Default 256.
   */
  cacheSize?: number;
}

let installed: { kernels: NativeKernels; replaced: tf.KernelConfig[]; threads: number } | null =
  null;
let offReason: string | undefined;
let announced = false;

function register(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm') !== undefined) {
    tf.unregisterKernel(config.kernelName, 'wasm');
  }
  tf.registerKernel(config);
}

/** The wasm kernels {@link enableNativeKernels} replaces. */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  tf.Conv2D,
  tf.FusedConv2D,
  tf.Conv2DBackpropInput,
  tf.Conv2DBackpropFilter,
  tf.DepthwiseConv2dNative,
  tf.FusedDepthwiseConv2D,
  tf.DepthwiseConv2dNativeBackpropInput,
  tf.DepthwiseConv2dNativeBackpropFilter,
  tf.BatchMatMul,
  tf._FusedMatMul,
  ...ELEMENTWISE_KERNEL_NAMES,
  ...GAN_LOSS_KERNEL_NAMES,
];

/**
 * Registers the native {@link NATIVE_KERNEL_NAMES} (convolution, its input and filter gradients,
 * the fused convolution with a bias, the same four for depthwise convolution, the matrix product
 * with or without a bias, the element-wise kernels of a leaky-ReLU network's gradients, and the
 * fused binary cross-entropy of GAN losses) for the `wasm` backend in place of the ones
 * registered now (TF.js's, genloss's src/backends/wasm), which stay as the fallback for what the
 * addon cannot run. Gradients of every order keep working: TF.js builds them from these kernels,
 * which take the same inputs and attributes. Off with `GENLOSS_NATIVE=0`, or where no prebuilt
 * binary loads; then, on a platform that has one, one line on stderr (once per process) says why.
 * Calling it again re-registers with the new options.
 */
export function enableNativeKernels(options: NativeKernelOptions = {}): NativeKernelStatus {
  const load = loadAddon();
  if (load.addon === undefined) {
    offReason = load.reason;
    if (load.expected && !announced) {
      announced = true;
      process.stderr.write(
        `genloss: native kernels off (${load.reason}); the wasm backend uses its own convolution kernels\n`,
      );
    }
    return nativeKernelStatus();
  }
  disableNativeKernels();
  const replaced = NATIVE_KERNEL_NAMES.map(wasmKernel);
  const byName = (name: string) =>
    replaced.find((config) => config.kernelName === name) as tf.KernelConfig;
  const kernels = nativeKernels(load.addon, byName, options.cacheSize ?? 256);
  const memoryBound = [elementwiseKernels, ganLossKernels].flatMap((f) => f(load.addon, byName));
  for (const config of [...kernels.configs, ...memoryBound]) register(config);
  installed = { kernels, replaced, threads: load.addon.threads() };
  offReason = undefined;
  return nativeKernelStatus();
}

/** Puts back the kernels {@link enableNativeKernels} replaced and frees its cached operators. */
export function disableNativeKernels(): void {
  if (installed === null) return;
  for (const config of installed.replaced) register(config);
  installed.kernels.clearCache();
  installed = null;
  offReason = 'disabled';
}

/** Whether the native kernels are registered, and if not, why. */
export function nativeKernelStatus(): NativeKernelStatus {
  if (installed !== null) {
    return {
      active: true,
      threads: installed.threads,
      cachedOperators: installed.kernels.cachedOperators(),
    };
  }
  return { active: false, reason: offReason ?? 'not enabled', cachedOperators: 0 };
}
