import { GAN_LOSS_KERNELS } from './gan-loss.ts';
import { GAN_LOSS_GRADIENTS } from './gan-loss-gradients.ts';
import { PIXEL_LOSS_KERNELS } from './pixel-loss.ts';
import { PIXEL_LOSS_GRADIENTS } from './pixel-loss-gradients.ts';
import { registerFused } from './runtime.ts';
import { SOBEL_KERNELS } from './sobel-loss.ts';
import { SOBEL_GRADIENTS } from './sobel-loss-gradients.ts';

export { GAN_LOSS_GRAD, GAN_LOSS_SUM } from './gan-loss.ts';
export type { GanElementLoss } from './gan-loss-loops.ts';
export { type FusedGanLossOptions, type FusedGanType, fusedGanLoss } from './gan-losses.ts';
export {
  type FusedGradientLossOptions,
  type FusedLossName,
  type FusedLossOptions,
  type FusedPixelLossOptions,
  fusedGradientLoss,
  fusedPixelLoss,
  withFusedKernel,
} from './losses.ts';
export { PIXEL_LOSS_GRAD, PIXEL_LOSS_SUM } from './pixel-loss.ts';
export type { FusedLoss } from './pixel-loss-loops.ts';
export { SOBEL_L1_GRAD, SOBEL_L1_SUM } from './sobel-loss.ts';

/**
 * Registers the fused loss kernels (for `cpu` and `wasm`) and their gradients. Idempotent.
 * Other backends have no fused kernel, and {@link fusedPixelLoss}, {@link fusedGradientLoss} and
 * {@link fusedGanLoss} return null there.
 */
export function registerFusedKernels(): void {
  registerFused(
    [...PIXEL_LOSS_KERNELS, ...SOBEL_KERNELS, ...GAN_LOSS_KERNELS],
    [...PIXEL_LOSS_GRADIENTS, ...SOBEL_GRADIENTS, ...GAN_LOSS_GRADIENTS],
  );
}

/**
 * The names of every fused kernel (forward and gradient kernels, each registered for `cpu` and
 * `wasm`); unregistering them makes the losses run their op chains.
 */
export const FUSED_KERNEL_NAMES: readonly string[] = [
  ...new Set(
    [...PIXEL_LOSS_KERNELS, ...SOBEL_KERNELS, ...GAN_LOSS_KERNELS].map((k) => k.kernelName),
  ),
];
