import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '../wasm/heap.ts';
import { type GanElementLoss, ganGrad, ganSum } from './gan-loss-loops.ts';
import { type KernelArgs, kernelConfigs, newOutput, outputOf, viewsOf } from './runtime.ts';

// GenlossGanLossSum([x])      = scale · Σ f(x)       (a scalar)
// GenlossGanLossGrad([dy, x]) = dy · scale · f'(x)   (x's shape)
// f is one of the element functions of gan-loss-loops.ts, with the constant `c` (a label or a
// sign); scale is 1/size for a mean. The discriminator's predictions are small (a patch map of
// thousands of logits), so the cost of the op chain is its per-op dispatch, not its arithmetic:
// one JS loop over the inputs in place (the wasm heap or the cpu array) replaces it.

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

function sumKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const [x] = inputs;
  const { loss, c, scale } = attrs as unknown as GanLossAttrs;
  const [view] = viewsOf(backend, [x]);
  const total = ganSum(loss, c, view!, tf.util.sizeFromShape(x.shape), scale);
  return outputOf(backend, [], Float32Array.of(total));
}

function gradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const [dy, x] = inputs;
  const { loss, c, scale } = attrs as unknown as GanLossAttrs;
  // The output first: on wasm its allocation may grow the heap, detaching earlier views.
  const out = newOutput(backend, x.shape);
  const [d, view] = viewsOf(backend, [dy, x]);
  const size = tf.util.sizeFromShape(x.shape);
  ganGrad(loss, c, view!, size, d!.a[d!.at] * scale, out.view);
  return out.finish();
}

/** Both GAN-loss kernels for `cpu` and `wasm`. */
export const GAN_LOSS_KERNELS: readonly tf.KernelConfig[] = [
  ...kernelConfigs(GAN_LOSS_SUM, sumKernel),
  ...kernelConfigs(GAN_LOSS_GRAD, gradKernel),
];
