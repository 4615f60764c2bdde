import { LossComponent } from '../components/base.ts';
import { LOSSES } from '../core/registry.ts';
import { INPAINTOR_LOSS_KEYS } from '../models/inpaintor.ts';
import { LOSS_ROLES, type LossKeys } from '../models/loss-roles.ts';
import { MATTOR_LOSS_KEYS } from '../models/matting.ts';
import { RESTORER_LOSS_KEYS } from '../models/restorer.ts';
import { TTSR_LOSS_KEYS } from '../models/ttsr.ts';

/** The GAN losses `GANWithCustomizedLoss` calls as its `gan_loss`. */
const GAN_MODEL_GAN_LOSSES = ['GANLoss', 'GANLossComps', 'RelativisticGANLoss'];

const { gan_loss: _gan, feature_matching_loss: _fm, ...BASE_EDIT_KEYS } = RESTORER_LOSS_KEYS;

/** Each image-to-image `model.type`'s loss keys and their roles. */
const IMAGE_TO_IMAGE_KEYS: Record<string, LossKeys> = {
  BaseEditModel: BASE_EDIT_KEYS,
  SRGAN: RESTORER_LOSS_KEYS,
  ESRGAN: RESTORER_LOSS_KEYS,
  OneStageInpaintor: INPAINTOR_LOSS_KEYS,
  DIM: MATTOR_LOSS_KEYS,
  TTSR: TTSR_LOSS_KEYS,
};

/**
 * Where a registered loss can be used in a `genloss train` config, as `<model.type>.<key>`: the
 * GAN's `gan_loss`, its `disc_auxiliary_loss`/`gen_auxiliary_loss` (every data_info component),
 * a loss that a registered `<name>Comps` component wraps (`CLIPLoss` through `CLIPLossComps`, as
 * MMagic uses it), and each image-to-image kind's keys whose roles take the loss (`LOSS_ROLES`).
 */
export function lossUsage(name: string): string[] {
  const usage: string[] = [];
  if (GAN_MODEL_GAN_LOSSES.includes(name)) usage.push('GANWithCustomizedLoss.gan_loss');
  if (LOSSES.has(name) && LOSSES.get(name).prototype instanceof LossComponent) {
    usage.push(
      'GANWithCustomizedLoss.disc_auxiliary_loss',
      'GANWithCustomizedLoss.gen_auxiliary_loss',
    );
  }
  const comps = `${name}Comps`;
  if (LOSSES.has(comps) && LOSSES.get(comps).prototype instanceof LossComponent) {
    usage.push(
      `GANWithCustomizedLoss.disc_auxiliary_loss (as ${comps})`,
      `GANWithCustomizedLoss.gen_auxiliary_loss (as ${comps})`,
    );
  }
  for (const [type, keys] of Object.entries(IMAGE_TO_IMAGE_KEYS)) {
    for (const [key, roles] of Object.entries(keys)) {
      if (roles.some((r) => (LOSS_ROLES[r] as readonly string[]).includes(name))) {
        usage.push(`${type}.${key}`);
      }
    }
  }
  return usage;
}
