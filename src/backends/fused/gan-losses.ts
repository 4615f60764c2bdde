import * as tf from '@tensorflow/tfjs';
import { GAN_LOSS_SUM, type GanLossAttrs } from './gan-loss.ts';
import { hasFusedKernel, runFused } from './runtime.ts';

/** The adversarial loss types {@link fusedGanLoss} computes (MMagic's names, and BasicSR's). */
export type FusedGanType =
  | 'vanilla'
  | 'lsgan'
  | 'wgan'
  | 'wgan-logistic-ns'
  | 'wgan_softplus'
  | 'hinge';

const FUSED_GAN_TYPES: readonly string[] = [
  'vanilla',
  'lsgan',
  'wgan',
  'wgan-logistic-ns',
  'wgan_softplus',
  'hinge',
];

/** What {@link fusedGanLoss} needs of a call: its role, and the label `ganLoss` picked. */
export interface FusedGanLossOptions {
  /** Whether the target is the real label. */
  target_is_real: boolean;
  /** Discriminator (true) or generator (false) call: only the hinge loss tells them apart. */
  is_disc: boolean;
  /** `real_label_val` or `fake_label_val`, as `target_is_real` picks (vanilla and lsgan only). */
  label: number;
}

/** The element function and its constant of one GAN-loss call (gan-loss-loops.ts). */
function elementOf(type: FusedGanType, o: FusedGanLossOptions): Omit<GanLossAttrs, 'scale'> {
  const sign = o.target_is_real ? -1 : 1;
  switch (type) {
    case 'vanilla':
      return { loss: 'bce', c: o.label };
    case 'lsgan':
      return { loss: 'square', c: o.label };
    case 'wgan':
      return { loss: 'linear', c: sign };
    case 'wgan-logistic-ns':
    case 'wgan_softplus':
      // softplus(−x) = BCE(x, 1), softplus(x) = BCE(x, 0).
      return { loss: 'bce', c: o.target_is_real ? 1 : 0 };
    case 'hinge':
      return o.is_disc ? { loss: 'hinge', c: sign } : { loss: 'linear', c: -1 };
  }
}

/**
 * MMagic's `GANLoss` value of discriminator predictions in one fused kernel (and one for its
 * gradient), with gradients of every order: with the mean over all elements of `input`, any shape,
 * and `label` the real or fake label,
 *
 * - vanilla: `mean BCEWithLogits(x, label)`; lsgan: `mean (x − label)²`;
 * - wgan: real `−mean x`, fake `mean x`; wgan-logistic-ns / wgan_softplus: real
 *   `mean softplus(−x)`, fake `mean softplus(x)`;
 * - hinge: disc real `mean relu(1 − x)`, disc fake `mean relu(1 + x)`, generator `−mean x`.
 *
 * The same numbers as `ganLoss`'s op chain to float32 rounding (the fused sum accumulates in
 * double precision). Returns null, computing nothing, where the fused path does not apply: another
 * type (`l1`, `smgan`), a backend without the kernel (only `cpu` and `wasm` have it), or an input
 * that is not a non-empty float32 tensor; the op chain then runs, and reports invalid input.
 */
export function fusedGanLoss(
  type: string,
  input: tf.Tensor,
  options: FusedGanLossOptions,
): tf.Tensor | null {
  if (!FUSED_GAN_TYPES.includes(type) || !hasFusedKernel(GAN_LOSS_SUM)) return null;
  if (!(input instanceof tf.Tensor) || input.dtype !== 'float32' || input.isDisposed) return null;
  if (input.size === 0) return null;
  const attrs: GanLossAttrs = {
    ...elementOf(type as FusedGanType, options),
    scale: 1 / input.size,
  };
  return runFused(GAN_LOSS_SUM, [input], attrs);
}
