/**
 * Backend support: the wasm kernels that make TF.js's `wasm` backend train GANs, and fused loss
 * kernels for `cpu` and `wasm`. docs/performance.md has the measurements behind each.
 */
export {
  FUSED_KERNEL_NAMES,
  type FusedGanLossOptions,
  type FusedGanType,
  type FusedGradientLossOptions,
  type FusedLoss,
  type FusedLossName,
  type FusedLossOptions,
  type FusedPixelLossOptions,
  fusedGanLoss,
  fusedGradientLoss,
  fusedPixelLoss,
  GAN_LOSS_GRAD,
  GAN_LOSS_SUM,
  PIXEL_LOSS_GRAD,
  PIXEL_LOSS_SUM,
  registerFusedKernels,
  SOBEL_L1_GRAD,
  SOBEL_L1_SUM,
  withFusedKernel,
} from './fused/index.ts';
export { registerWasmKernels, WASM_KERNELS } from './wasm/kernels.ts';
