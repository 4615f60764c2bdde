import type * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { ConfigError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { type BuildConfig, LOSSES } from '../core/registry.ts';

/**
 * How a model calls a loss in each of its config keys, and which registered losses take that call.
 * A model kind names one role per key (`pixel_loss: 'pixel'`); building a key's loss checks its
 * type against the role, so a loss that cannot be called there is a `ConfigError` when the config
 * is read, and `genloss list` shows for each loss the model kinds and keys that can use it.
 *
 * - `pixel`: `forward(pred, target)` → a scalar (images N×H×W×C).
 * - `masked_pixel`: `forward(pred, target, weight)` with an N×H×W×1 weight (MMagic's masked mean).
 * - `feature`: `forward(pred, gt)` → a scalar, or `[percep, style]` (`PerceptualLoss`).
 * - `gan`: `forward(pred, target_is_real, is_disc)`, or a relativistic loss's terms of both
 *   predictions; `MultiScaleGANLoss` takes a multi-scale discriminator's outputs.
 * - `adv`: `forward(disc, fake, real, 'discriminator' | 'generator')` (`AdvLoss`).
 * - `tv`: `forward(pred, weight)` (a total-variation regulariser on the output).
 * - `composition`: `forward(pred_alpha, fg, bg, ori_merged, weight)` (matting).
 * - `gp`: `forward(disc, real, fake, mask)`; `disc_shift`: `forward(pred)`.
 * - `feature_matching`: `forward(feats_fake, feats_real)` of a multi-scale discriminator.
 * - `transferal`: `forward(maps, soft_attention, textures)`: the texture maps of the output, a
 *   texture transformer's soft attention and transferred textures (MMagic's TTSR).
 */
export const LOSS_ROLES = {
  pixel: [
    'L1Loss',
    'MSELoss',
    'CharbonnierLoss',
    'PSNRLoss',
    'SSIMLoss',
    'MultiScaleSSIMLoss',
    'CauchyLoss',
    'WelschLoss',
    'GemanMcClureLoss',
    'HuberLoss',
    'SmoothL1Loss',
    'GeneralRobustLoss',
    'FocalFrequencyLoss',
    'GradientLoss',
  ],
  masked_pixel: [
    'L1Loss',
    'MSELoss',
    'CharbonnierLoss',
    'CauchyLoss',
    'WelschLoss',
    'GemanMcClureLoss',
    'HuberLoss',
    'SmoothL1Loss',
    'GeneralRobustLoss',
    'GradientLoss',
  ],
  feature: ['PerceptualLoss', 'LPIPS', 'DISTS', 'LightCNNFeatureLoss', 'FaceIdLoss'],
  gan: ['GANLoss', 'GANLossComps', 'MultiScaleGANLoss', 'RelativisticGANLoss'],
  adv: ['AdvLoss'],
  tv: ['WeightedTVLoss', 'MaskedTVLoss'],
  composition: ['L1CompositionLoss', 'MSECompositionLoss', 'CharbonnierCompLoss'],
  gp: ['GradientPenaltyLoss'],
  disc_shift: ['DiscShiftLoss'],
  feature_matching: ['GANFeatLoss'],
  transferal: ['TransferalPerceptualLoss'],
} as const satisfies Record<string, readonly string[]>;

/** A role of {@link LOSS_ROLES}. */
export type LossRole = keyof typeof LOSS_ROLES;

/** The roles of one model kind's loss keys (`{pixel_loss: ['pixel'], gan_loss: ['gan', 'adv']}`). */
export type LossKeys = Record<string, readonly LossRole[]>;

/**
 * Builds the loss of `key` from its config (null: no loss), checking that its type takes one of
 * the key's roles; returns the module and the role it is called in.
 */
export function buildRoleLoss(
  owner: string,
  key: string,
  roles: readonly LossRole[],
  cfg: unknown,
): { module: LossModule; role: LossRole } | null {
  if (cfg === null || cfg === undefined) return null;
  const type = (cfg as { type?: unknown }).type;
  const role = roles.find((r) => (LOSS_ROLES[r] as readonly string[]).includes(String(type)));
  if (role === undefined) {
    const allowed = roles.flatMap((r) => LOSS_ROLES[r]);
    throw new ConfigError(
      `${owner}: option '${key}' must be a loss that a ${owner} can call there (${allowed.join('|')}), got type ${describeValue(type)}`,
    );
  }
  return { module: LOSSES.build(cfg as BuildConfig), role };
}

/** `forward` of a role's loss, untyped: the role says how to call it. */
export type RoleForward = (...args: unknown[]) => tf.Tensor | [tf.Tensor | null, tf.Tensor | null];

/** The module's `forward`, bound. */
export function forwardOf(module: LossModule): RoleForward {
  return (module as unknown as { forward: RoleForward }).forward.bind(module);
}
