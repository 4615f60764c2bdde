import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { parseOptions } from '../core/options.ts';
import {
  AdversarialTerms,
  featureLossTerms,
  type ImageBatch,
  ImageToImageModel,
  type ImageToImageNets,
} from './image-to-image.ts';
import { buildRoleLoss, forwardOf, type LossKeys } from './loss-roles.ts';
import type { LossDict } from './parse-losses.ts';

const lossConfig = z.looseObject({ type: z.string() }).nullable().default(null);

/** The loss keys of MMagic's `OneStageInpaintor` and the roles they take. */
export const INPAINTOR_LOSS_KEYS = {
  loss_gan: ['gan', 'adv'],
  loss_gp: ['gp'],
  loss_disc_shift: ['disc_shift'],
  loss_composed_percep: ['feature'],
  loss_out_percep: ['feature'],
  loss_l1_hole: ['masked_pixel'],
  loss_l1_valid: ['masked_pixel'],
  loss_tv: ['tv'],
} as const satisfies LossKeys;

type InpaintorLossKey = keyof typeof INPAINTOR_LOSS_KEYS;

/** The JSON part of an inpaintor's config (MMagic's `OneStageInpaintor` keys). */
export const inpaintorOptions = z.strictObject({
  type: z.literal('OneStageInpaintor'),
  loss_gan: lossConfig,
  loss_gp: lossConfig,
  loss_disc_shift: lossConfig,
  loss_composed_percep: lossConfig,
  /** A loss config, or `true`: the composed perceptual loss's config again (MMagic). */
  loss_out_percep: z
    .union([z.looseObject({ type: z.string() }), z.boolean()])
    .nullable()
    .default(null),
  loss_l1_hole: lossConfig,
  loss_l1_valid: lossConfig,
  loss_tv: lossConfig,
  /** MMagic's `train_cfg.disc_step`: discriminator steps per generator step. */
  train_cfg: z.strictObject({ disc_step: z.int().min(1).default(1) }).default({ disc_step: 1 }),
});

/**
 * An inpainting model trained as MMagic's `OneStageInpaintor`. Batch: `gt_img` (N×H×W×C in
 * [−1, 1]) and `mask` (N×H×W×1, 1 in the hole). The generator sees
 * `concat(gt·(1 − mask), mask)`; its raw output `fake_res` is composited into
 * `fake_img = gt·(1 − mask) + fake_res·mask`, the model's output.
 *
 * Discriminator phase (with `loss_gan`), first: `real_loss = gan(D(gt), True, True)`,
 * `fake_loss = gan(D(fake_img)ᵈ, False, True)`; `loss_disc_shift = ½·disc_shift(real_loss) +
 * ½·disc_shift(fake_loss)` — MMagic's inpaintors apply `DiscShiftLoss` to the scalar GAN loss
 * value, not to the predictions (`forward_train_d`) —; `loss_gp = gp(D, gt, fake_img, mask)`.
 * Generator phase, every `train_cfg.disc_step` iterations: `loss_g_fake = gan(D(fake_img), True,
 * False)`, `loss_l1_hole = l1_hole(fake_res, gt, weight=mask)`, `loss_l1_valid =
 * l1_valid(fake_res, gt, weight=1 − mask)`, `loss_composed_percep`/`_style` of
 * `composed_percep(fake_img, gt)`, `loss_out_percep`/`_style` of `out_percep(fake_res, gt)`, and
 * `loss_tv = tv(fake_img, mask)`.
 */
export class Inpaintor extends ImageToImageModel {
  readonly cfg: z.output<typeof inpaintorOptions>;
  readonly adversarial: AdversarialTerms | null;
  private readonly modules: Partial<Record<InpaintorLossKey, LossModule>> = {};

  constructor(cfg: unknown, nets: ImageToImageNets) {
    const parsed = parseOptions('OneStageInpaintor', inpaintorOptions, cfg);
    super('OneStageInpaintor', nets);
    this.cfg = parsed;
    const owner = 'OneStageInpaintor';
    try {
      const configs: Record<string, unknown> = {
        ...parsed,
        loss_out_percep:
          parsed.loss_out_percep === true
            ? parsed.loss_composed_percep
            : parsed.loss_out_percep || null,
      };
      for (const key of Object.keys(INPAINTOR_LOSS_KEYS) as InpaintorLossKey[]) {
        if (key === 'loss_gan') continue;
        const m = buildRoleLoss(owner, key, INPAINTOR_LOSS_KEYS[key], configs[key])?.module;
        if (m) this.modules[key] = m;
      }
      const hasDisc = nets.discriminator !== null;
      if ((parsed.loss_gan !== null) !== hasDisc) {
        throw new ConfigError(
          `${owner}: 'loss_gan' and 'discriminator' go together (got ${parsed.loss_gan === null ? 'a discriminator without loss_gan' : 'loss_gan without a discriminator'})`,
        );
      }
      if (!hasDisc && (this.modules.loss_gp || this.modules.loss_disc_shift)) {
        throw new ConfigError(
          `${owner}: 'loss_gp' and 'loss_disc_shift' need loss_gan and a discriminator`,
        );
      }
      this.adversarial = hasDisc
        ? new AdversarialTerms(owner, 'loss_gan', parsed.loss_gan, this.scales)
        : null;
      if (this.losses().length === 0) {
        throw new ConfigError(`${owner}: no loss configured (set loss_l1_hole at least)`);
      }
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  losses(): LossModule[] {
    return [...Object.values(this.modules), ...(this.adversarial ? [this.adversarial.module] : [])];
  }

  protected override get discriminatorFirst(): boolean {
    return true;
  }

  protected override runsDiscriminator(): boolean {
    return this.adversarial !== null;
  }

  protected override runsGenerator(): boolean {
    return this.adversarial === null || (this.iteration + 1) % this.cfg.train_cfg.disc_step === 0;
  }

  generatorInput({ gt_img, mask }: ImageBatch): tf.Tensor {
    return tf.concat([tf.mul(gt_img, tf.sub(1, mask)), mask], 3);
  }

  protected output({ gt_img, mask }: ImageBatch, raw: tf.Tensor): tf.Tensor {
    return tf.add(tf.mul(gt_img, tf.sub(1, mask)), tf.mul(raw, mask));
  }

  protected generatorLosses(
    { gt_img, mask }: ImageBatch,
    raw: tf.Tensor,
    fake: tf.Tensor,
  ): LossDict {
    const m = this.modules;
    const losses: LossDict = {};
    if (this.adversarial) losses.loss_g_fake = this.adversarial.generator(this.disc, gt_img, fake);
    if (m.loss_l1_hole)
      losses.loss_l1_hole = forwardOf(m.loss_l1_hole)(raw, gt_img, mask) as tf.Tensor;
    if (m.loss_l1_valid) {
      losses.loss_l1_valid = forwardOf(m.loss_l1_valid)(raw, gt_img, tf.sub(1, mask)) as tf.Tensor;
    }
    if (m.loss_composed_percep) {
      Object.assign(
        losses,
        featureLossTerms(m.loss_composed_percep, fake, gt_img, {
          percep: 'loss_composed_percep',
          style: 'loss_composed_style',
        }),
      );
    }
    if (m.loss_out_percep) {
      Object.assign(
        losses,
        featureLossTerms(m.loss_out_percep, raw, gt_img, {
          percep: 'loss_out_percep',
          style: 'loss_out_style',
        }),
      );
    }
    if (m.loss_tv) losses.loss_tv = forwardOf(m.loss_tv)(fake, mask) as tf.Tensor;
    return losses;
  }

  protected override discriminatorLosses({ gt_img, mask }: ImageBatch, fake: tf.Tensor): LossDict {
    const adv = this.adversarial as AdversarialTerms;
    const { real, fake: fakeTerm } = adv.discriminator(this.disc, gt_img, fake);
    const terms = fakeTerm === null ? [real] : [real, fakeTerm];
    const losses: LossDict =
      fakeTerm === null ? { disc_losses: real } : { real_loss: real, fake_loss: fakeTerm };
    const shift = this.modules.loss_disc_shift;
    if (shift) {
      losses.loss_disc_shift = tf.mul(
        tf.addN(terms.map((t) => forwardOf(shift)(t) as tf.Tensor)),
        0.5,
      );
    }
    const gp = this.modules.loss_gp;
    if (gp) losses.loss_gp = forwardOf(gp)(this.disc, gt_img, fake, mask) as tf.Tensor;
    return losses;
  }
}
