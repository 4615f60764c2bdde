import * as tf from '@tensorflow/tfjs';
import { type SimdGanKernels, simdGanKernels } from '../simd/instance.ts';
import { offsetOf, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';
import { type GanElementLoss, ganGrad, ganSum } from './gan-loss-loops.ts';
import {
  type F32View,
  isWasm,
  type KernelArgs,
  kernelConfigs,
  newOutput,
  outputOf,
  viewsOf,
} from './runtime.ts';

// GenlossGanLossSum([x])      = scale · Σ f(x)       (a scalar)
// GenlossGanLossGrad([dy, x]) = dy · scale · f'(x)   (x's shape)
// f is one of the element functions of gan-loss-loops.ts, with the constant `c` (a label or a
// sign); scale is 1/size for a mean. The discriminator's predictions are small (a patch map of
// thousands of logits), so the cost of the op chain is its per-op dispatch, not its arithmetic:
// one loop over the inputs in place replaces it: on wasm the SIMD GAN module
// (src/backends/simd/source.ts: f32x4 exp and log1p for the BCE, where the JS loop's Math.exp and
// Math.log1p cost ~20 ns an element) over the whole vectors and the JS loop over the last 0–3
// elements; on cpu, and on wasm without SIMD, the JS loop (gan-loss-loops.ts) over all of them.

/** Kernel name: `scale·Σ f(x)` of a GAN loss's element function. */
export const GAN_LOSS_SUM = 'GenlossGanLossSum';

/** Kernel name: the sum's gradient w.r.t. x, `dy·scale·f'(x)`. */
export const GAN_LOSS_GRAD = 'GenlossGanLossGrad';

/** Attributes of both kernels: the element function, its constant, and the sum's factor. */
export interface GanLossAttrs {
  loss: GanElementLoss;
  /** The label (`bce`, `square`) or the sign ±1 (`hinge`, `linear`). */
  c: number;
  scale: number;
}

/** The SIMD GAN kernels where the backend is wasm and has them, else null (JS loops). */
function simdOf(backend: object): { wasm: WasmBackend; simd: SimdGanKernels } | null {
  if (!isWasm(backend)) return null;
  const simd = simdGanKernels(backend);
  return simd === null ? null : { wasm: backend, simd };
}

/** `view` from element `from` on. */
const from = (view: F32View, count: number): F32View => ({ a: view.a, at: view.at + count });

/** `Σ f(x)` over the first `count` (a multiple of 4) elements at byte offset `x`, in SIMD. */
function simdSum(simd: SimdGanKernels, loss: GanElementLoss, c: number, x: number, count: number) {
  switch (loss) {
    case 'bce':
      return simd.sum_bce(x, count, c);
    case 'square':
      return simd.sum_square(x, count, c);
    case 'hinge':
      return simd.sum_hinge(x, count, c);
    case 'linear':
      return c * simd.sum_linear(x, count);
  }
}

function sumKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const [x] = inputs;
  const { loss, c, scale } = attrs as unknown as GanLossAttrs;
  const [view] = viewsOf(backend, [x]);
  const size = tf.util.sizeFromShape(x.shape);
  const fast = simdOf(backend);
  // The SIMD part: the whole f32x4 vectors; the JS loop sums the rest (all of it without SIMD).
  const vectors = fast ? size - (size % 4) : 0;
  let total = ganSum(loss, c, from(view!, vectors), size - vectors, 1);
  if (fast && vectors > 0) {
    total += simdSum(fast.simd, loss, c, offsetOf(fast.wasm, x), vectors);
  }
  return outputOf(backend, [], Float32Array.of(total * scale));
}

function gradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const [dy, x] = inputs;
  const { loss, c, scale } = attrs as unknown as GanLossAttrs;
  // The output first: on wasm its allocation may grow the heap, detaching earlier views.
  const out = newOutput(backend, x.shape);
  const [d, view] = viewsOf(backend, [dy, x]);
  const size = tf.util.sizeFromShape(x.shape);
  const s = d!.a[d!.at] * scale;
  const fast = simdOf(backend);
  // The SIMD part as in the sum; the linear loss's gradient is a constant, which `fill` writes.
  const vectors = fast && loss !== 'linear' ? size - (size % 4) : 0;
  if (fast && vectors > 0) {
    const [simd, o, xp] = [fast.simd, 4 * out.view.at, offsetOf(fast.wasm, x)];
    if (loss === 'bce') simd.grad_bce(o, xp, vectors, c, s);
    else if (loss === 'square') simd.grad_square(o, xp, vectors, c, s);
    else simd.grad_hinge(o, xp, vectors, c, s * c);
  }
  ganGrad(loss, c, from(view!, vectors), size - vectors, s, from(out.view, vectors));
  return out.finish();
}

/** Both GAN-loss kernels for `cpu` and `wasm`. */
export const GAN_LOSS_KERNELS: readonly tf.KernelConfig[] = [
  ...kernelConfigs(GAN_LOSS_SUM, sumKernel),
  ...kernelConfigs(GAN_LOSS_GRAD, gradKernel),
];
