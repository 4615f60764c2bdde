import * as tf from '@tensorflow/tfjs';
import {
  heapF32,
  heapOf,
  offsetOf,
  replacingKernel,
  type TensorInfo,
  type WasmBackend,
} from '../wasm/heap.ts';
import type { NativeAddon } from './addon.ts';

/**
 * The addon's element-wise kernels (`elementwise`'s `kind`, native/genloss-native.c's
 * `enum elementwise_kind`).
 */
export const ElementwiseKind = {
  /** `y = a > 0 ? a : scalar·a` (float32). */
  leakyRelu: 0,
  /** `y = a > scalar` (bool). */
  greaterScalar: 1,
  /** `y = a > b` (bool). */
  greater: 2,
  /** `y = a ? b : c` (a bool; y, b, c float32). */
  select: 3,
  /** `y = a ? 1 : 0` (a bool, y float32). */
  boolToFloat: 4,
  /** `y = !a` (bool). */
  logicalNot: 5,
} as const;

/**
 * The memory-bound native kernels (element-wise, reductions, the fused BCE) run from this many
 * elements; smaller tensors stay on the wasm kernels, whose call costs no more at that size.
 */
export const MIN_ELEMENTS = 4096;

const sizeOf = (t: TensorInfo): number => tf.util.sizeFromShape(t.shape);
const sameShape = (a: TensorInfo, b: TensorInfo): boolean => tf.util.arraysEqual(a.shape, b.shape);

/**
 * Kernel configs for the wasm backend's `LeakyRelu`, `Greater`, `Select`, `Cast` (bool to
 * float32), `LogicalNot`, and `Sum` and `Mean` over leading axes on the addon: what a leaky-ReLU
 * network's first- and second-order gradients run on its activations. TF.js's LeakyRelu gradient
 * is `where(x > 0, dy, alpha·dy)`, and the gradient of `where` multiplies by its mask cast to
 * float32 and by the mask's negation; a bias's gradient sums an NHWC tensor `[n, h, w, c]` over
 * its first three axes, a loss sums or averages whole tensors, and a minibatch standard deviation
 * averages over its group axis (the demo's `[4, 8, 4, 4, 64]`: 3 ms a call on wasm). TF.js-wasm
 * runs these at 2–6 ns an element (its `Sum` and `Mean` transpose the reduced axes to the end
 * first); the addon streams them once. Each hands to `previous` (the kernel it replaces) tensors
 * under {@link MIN_ELEMENTS} elements, other dtypes, broadcasts other than against one value
 * (Greater), and other axes (Sum, Mean). Results are bit-identical to the wasm kernels', except
 * `Sum` and `Mean`, whose order of addition differs (float32 rounding).
 */
export function elementwiseKernels(
  addon: NativeAddon,
  previous: (kernelName: string) => tf.KernelConfig,
): tf.KernelConfig[] {
  /** Runs `kind` into a new tensor of `shape` and `dtype`. */
  const run = (
    backend: WasmBackend,
    kind: number,
    shape: number[],
    dtype: tf.DataType,
    operands: TensorInfo[],
    scalar = 0,
  ): TensorInfo => {
    const y = backend.makeOutput(shape, dtype);
    const [a, b, c] = operands.map((t) => offsetOf(backend, t));
    addon.elementwise(
      heapOf(backend),
      kind,
      sizeOf(y),
      offsetOf(backend, y),
      a ?? 0,
      b ?? 0,
      c ?? 0,
      scalar,
    );
    return y;
  };
  const big = (t: TensorInfo, dtype: tf.DataType) => t.dtype === dtype && sizeOf(t) >= MIN_ELEMENTS;
  const backendOf = (args: Parameters<tf.KernelFunc>[0]) => args.backend as unknown as WasmBackend;
  /** `Sum` or `Mean` (`mean`) over leading axes (or all axes) of a float32 tensor. */
  const leadingReduction = (name: string, mean: boolean) =>
    replacingKernel(previous(name), (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      if (!big(x, 'float32')) return null;
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
      if (!axes.every((a, i) => a === i)) return null;
      const kept = x.shape.slice(axes.length);
      const cols = tf.util.sizeFromShape(kept);
      const rows = sizeOf(x) / cols;
      const backend = backendOf(args);
      const y = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
      const [from, to] = [offsetOf(backend, x), offsetOf(backend, y)];
      addon.sumRows(heapOf(backend), from, to, rows, cols, mean ? rows : 1);
      return y;
    });

  return [
    replacingKernel(previous(tf.LeakyRelu), (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const { alpha } = args.attrs as unknown as tf.LeakyReluAttrs;
      if (!big(x, 'float32')) return null;
      return run(backendOf(args), ElementwiseKind.leakyRelu, x.shape, 'float32', [x], alpha);
    }),
    replacingKernel(previous(tf.Greater), (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      if (!big(a, 'float32') || b.dtype !== 'float32') return null;
      const backend = backendOf(args);
      if (sameShape(a, b)) return run(backend, ElementwiseKind.greater, a.shape, 'bool', [a, b]);
      if (sizeOf(b) !== 1 || b.shape.length > a.shape.length) return null;
      const value = heapF32(backend)[offsetOf(backend, b) / 4];
      return run(backend, ElementwiseKind.greaterScalar, a.shape, 'bool', [a], value);
    }),
    replacingKernel(previous(tf.Select), (args) => {
      const { condition, t, e } = args.inputs as Record<'condition' | 't' | 'e', TensorInfo>;
      const fits =
        big(t, 'float32') &&
        condition.dtype === 'bool' &&
        e.dtype === 'float32' &&
        sameShape(condition, t) &&
        sameShape(t, e);
      if (!fits) return null;
      return run(backendOf(args), ElementwiseKind.select, t.shape, 'float32', [condition, t, e]);
    }),
    replacingKernel(previous(tf.Cast), (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const { dtype } = args.attrs as unknown as tf.CastAttrs;
      if (!big(x, 'bool') || dtype !== 'float32') return null;
      return run(backendOf(args), ElementwiseKind.boolToFloat, x.shape, 'float32', [x]);
    }),
    replacingKernel(previous(tf.LogicalNot), (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (!big(x, 'bool')) return null;
      return run(backendOf(args), ElementwiseKind.logicalNot, x.shape, 'bool', [x]);
    }),
    leadingReduction(tf.Sum, false),
    leadingReduction(tf.Mean, true),
  ];
}

/** The wasm kernels {@link elementwiseKernels} replaces. */
export const ELEMENTWISE_KERNEL_NAMES: readonly string[] = [
  tf.LeakyRelu,
  tf.Greater,
  tf.Select,
  tf.Cast,
  tf.LogicalNot,
  tf.Sum,
  tf.Mean,
];
