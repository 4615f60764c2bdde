import { PIXEL_LOSS_KERNELS } from './pixel-loss.ts';
import { PIXEL_LOSS_GRADIENTS } from './pixel-loss-gradients.ts';
import { registerFused } from './runtime.ts';
import { SOBEL_KERNELS } from './sobel-loss.ts';
import { SOBEL_GRADIENTS } from './sobel-loss-gradients.ts';

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
 * Other backends have no fused kernel, and {@link fusedPixelLoss} and {@link fusedGradientLoss}
 * return null there.
 */
export function registerFusedKernels(): void {
  registerFused(
    [...PIXEL_LOSS_KERNELS, ...SOBEL_KERNELS],
    [...PIXEL_LOSS_GRADIENTS, ...SOBEL_GRADIENTS],
  );
}
