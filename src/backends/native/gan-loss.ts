import * as tf from '@tensorflow/tfjs';
import { GAN_LOSS_GRAD, GAN_LOSS_SUM, type GanLossAttrs } from '../fused/gan-loss.ts';
import {
  heapF32,
  heapOf,
  offsetOf,
  replacingKernel,
  type TensorInfo,
  type WasmBackend,
} from '../wasm/heap.ts';
import type { NativeAddon } from './addon.ts';
import { MIN_ELEMENTS } from './elementwise.ts';

/**
 * The fused GAN-loss kernels `GenlossGanLossSum` and `GenlossGanLossGrad` (src/backends/fused) of
 * the binary cross-entropy (vanilla GAN losses and the relativistic ones that wrap them) on the
 * addon, for float32 patch maps of {@link MIN_ELEMENTS} logits or more: with the label `c`,
 * `scale·Σ softplus(x) − c·x` and `dy·scale·(σ(x) − c)`, through glibc's AVX-512 `expf` and
 * `log1pf` (the SIMD wasm module evaluates its own f32x4 polynomials at ~3.4 ns a logit). The
 * other element functions, and smaller maps (below {@link MIN_ELEMENTS}, where the SIMD wasm
 * kernels are as fast), stay on `previous`.
 */
export function ganLossKernels(
  addon: NativeAddon,
  previous: (kernelName: string) => tf.KernelConfig,
): tf.KernelConfig[] {
  const fits = (x: TensorInfo, attrs: GanLossAttrs) =>
    attrs.loss === 'bce' && x.dtype === 'float32' && tf.util.sizeFromShape(x.shape) >= MIN_ELEMENTS;
  return [
    replacingKernel(previous(GAN_LOSS_SUM), (args) => {
      const [x] = args.inputs as unknown as TensorInfo[];
      const attrs = args.attrs as unknown as GanLossAttrs;
      if (!fits(x, attrs)) return null;
      const backend = args.backend as unknown as WasmBackend;
      const n = tf.util.sizeFromShape(x.shape);
      const total = addon.bceLoss(
        heapOf(backend),
        0,
        n,
        offsetOf(backend, x),
        0,
        attrs.c,
        attrs.scale,
      );
      const y = backend.makeOutput([], 'float32');
      heapF32(backend)[offsetOf(backend, y) / 4] = total;
      return y;
    }),
    replacingKernel(previous(GAN_LOSS_GRAD), (args) => {
      const [dy, x] = args.inputs as unknown as TensorInfo[];
      const attrs = args.attrs as unknown as GanLossAttrs;
      if (!fits(x, attrs) || dy.dtype !== 'float32') return null;
      const backend = args.backend as unknown as WasmBackend;
      const out = backend.makeOutput(x.shape, 'float32');
      const scale = heapF32(backend)[offsetOf(backend, dy) / 4] * attrs.scale;
      const n = tf.util.sizeFromShape(x.shape);
      addon.bceLoss(
        heapOf(backend),
        1,
        n,
        offsetOf(backend, x),
        offsetOf(backend, out),
        attrs.c,
        scale,
      );
      return out;
    }),
  ];
}

/** The kernels {@link ganLossKernels} replaces. */
export const GAN_LOSS_KERNEL_NAMES: readonly string[] = [GAN_LOSS_SUM, GAN_LOSS_GRAD];
