import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { ConfigError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { parseOptions } from '../core/options.ts';
import {
  AdversarialTerms,
  type DiscPredictions,
  featureLossTerms,
  type ImageBatch,
  ImageToImageModel,
  type ImageToImageNets,
} from './image-to-image.ts';
import { buildRoleLoss, forwardOf, type LossKeys } from './loss-roles.ts';
import type { LossDict } from './parse-losses.ts';

const lossConfig = z.looseObject({ type: z.string() }).nullable().default(null);

/** The restoration model types, MMagic's names: pixel loss only, SRGAN, and ESRGAN's relativistic GAN. */
export const RESTORER_TYPES = ['BaseEditModel', 'SRGAN', 'ESRGAN'] as const;

/**
 * The loss keys of a restorer (MMagic's `SRGAN`: `pixel_loss`, `perceptual_loss`, `gan_loss`;
 * genloss adds `gradient_loss`, `tv_loss` and `feature_matching_loss`) and the roles they take.
 */
export const RESTORER_LOSS_KEYS = {
  pixel_loss: ['pixel'],
  perceptual_loss: ['feature'],
  gan_loss: ['gan', 'adv'],
  gradient_loss: ['pixel'],
  tv_loss: ['tv'],
  feature_matching_loss: ['feature_matching'],
} as const satisfies LossKeys;

/** The JSON part of a restorer's config (networks and optimizers are given beside it). */
export const restorerOptions = z.strictObject({
  type: z.enum(RESTORER_TYPES),
  pixel_loss: lossConfig,
  perceptual_loss: lossConfig,
  gan_loss: lossConfig,
  gradient_loss: lossConfig,
  tv_loss: lossConfig,
  feature_matching_loss: lossConfig,
  /**
   * Clamp the output to [0, 1] before the losses and the metrics (genloss): SSIM-type losses
   * refuse values outside `data_range`, as piq does; PyTorch users clamp (`out.clamp(0, 1)`).
   * The gradient is 0 where the output is outside [0, 1].
   */
  clamp_output: z.boolean().default(false),
  /** MMagic's `train_cfg`: the generator steps every `disc_steps` iterations, from `disc_init_steps`. */
  train_cfg: z
    .strictObject({
      disc_steps: z.int().min(1).default(1),
      disc_init_steps: z.int().min(0).default(0),
    })
    .default({ disc_steps: 1, disc_init_steps: 0 }),
});

const OPTIONAL_KEYS = ['perceptual_loss', 'gradient_loss', 'tv_loss'] as const;
const LOG_KEYS: Record<(typeof OPTIONAL_KEYS)[number], string> = {
  perceptual_loss: 'loss_perceptual',
  gradient_loss: 'loss_gradient',
  tv_loss: 'loss_tv',
};

/**
 * An image restorer (super-resolution, denoising, deblurring) trained the way MMagic's
 * `BaseEditModel`, `SRGAN` and `ESRGAN` train. Batch: `img` (the degraded input, N×h×w×C) and
 * `gt_img` (the target, N×H×W×C); the output is `generator(img)`.
 *
 * Generator phase (every `train_cfg.disc_steps` iterations from `disc_init_steps`; always without
 * a GAN loss): `loss_pix = pixel_loss(out, gt)`; `loss_perceptual`, `loss_style` from
 * `perceptual_loss(out, gt)` (`[percep, style]`, nulls skipped, or one scalar for LPIPS/DISTS);
 * `loss_gan` — SRGAN: `gan_loss(D(out), True, is_disc=False)`; ESRGAN:
 * `½[gan(D(out) − mean D(gt)ᵈ, True) + gan(D(gt)ᵈ − mean D(out), False)]` (ᵈ detached, both
 * `is_disc` False) —; genloss's extras `loss_gradient = gradient_loss(out, gt)`,
 * `loss_tv = tv_loss(out)` and `loss_feature_matching = feature_matching_loss(D(out), D(gt)ᵈ)` (a
 * multi-scale discriminator's features, pix2pixHD).
 *
 * Discriminator phase (with a `gan_loss`), after the generator's, on its detached output:
 * SRGAN `loss_d_real = gan(D(gt), True, True)`, `loss_d_fake = gan(D(out), False, True)`;
 * ESRGAN `loss_d_real = ½ gan(D(gt) − mean D(out), True, True)`,
 * `loss_d_fake = ½ gan(D(out) − mean D(gt)ᵈ, False, True)` (MMagic `ESRGAN.d_step_real/fake`).
 * A `RelativisticGANLoss` or `AdvLoss` as `gan_loss` uses its own two-prediction definition under
 * either type.
 */
export class Restorer extends ImageToImageModel {
  readonly cfg: z.output<typeof restorerOptions>;
  readonly pixelLoss: LossModule | null;
  readonly adversarial: AdversarialTerms | null;
  readonly featureMatchingLoss: LossModule | null;
  private readonly optional: Partial<Record<(typeof OPTIONAL_KEYS)[number], LossModule>> = {};

  constructor(cfg: unknown, nets: ImageToImageNets) {
    const parsed = parseOptions('Restorer', restorerOptions, cfg);
    super(parsed.type, nets);
    this.cfg = parsed;
    const owner = parsed.type;
    const built: LossModule[] = [];
    try {
      this.pixelLoss =
        buildRoleLoss(owner, 'pixel_loss', RESTORER_LOSS_KEYS.pixel_loss, parsed.pixel_loss)
          ?.module ?? null;
      if (this.pixelLoss) built.push(this.pixelLoss);
      for (const key of OPTIONAL_KEYS) {
        const m = buildRoleLoss(owner, key, RESTORER_LOSS_KEYS[key], parsed[key])?.module;
        if (m) {
          this.optional[key] = m;
          built.push(m);
        }
      }
      const hasDisc = nets.discriminator !== null;
      if (parsed.type === 'BaseEditModel' && (parsed.gan_loss !== null || hasDisc)) {
        throw new ConfigError(
          `BaseEditModel: trains no discriminator; for a GAN loss use type SRGAN or ESRGAN`,
        );
      }
      if ((parsed.gan_loss !== null) !== hasDisc) {
        throw new ConfigError(
          `${owner}: 'gan_loss' and 'discriminator' go together (got ${parsed.gan_loss === null ? 'a discriminator without gan_loss' : 'gan_loss without a discriminator'})`,
        );
      }
      this.adversarial = hasDisc
        ? new AdversarialTerms(owner, 'gan_loss', parsed.gan_loss, this.scales)
        : null;
      if (this.adversarial) built.push(this.adversarial.module);
      this.featureMatchingLoss =
        buildRoleLoss(
          owner,
          'feature_matching_loss',
          RESTORER_LOSS_KEYS.feature_matching_loss,
          parsed.feature_matching_loss,
        )?.module ?? null;
      if (this.featureMatchingLoss) {
        built.push(this.featureMatchingLoss);
        if ((nets.discriminator?.outputs.length ?? 0) < 2) {
          throw new ConfigError(
            `${owner}: 'feature_matching_loss' needs a discriminator that returns its features (type MultiScaleDiscriminator)`,
          );
        }
      }
      if (built.length === 0) {
        throw new ConfigError(`${owner}: no loss configured (set pixel_loss at least)`);
      }
      for (const key of ['pixel_loss', 'gradient_loss'] as const) {
        const cfg = parsed[key] as { type: string } | null;
        if (cfg?.type.endsWith('SSIMLoss') && !parsed.clamp_output) {
          throw new ConfigError(
            `${owner}: ${key} '${cfg.type}' takes images in [0, data_range]; set clamp_output: true (the output is clamped to [0, 1] before the losses)`,
          );
        }
      }
    } catch (error) {
      for (const m of built) m.dispose();
      super.dispose();
      throw error;
    }
  }

  losses(): LossModule[] {
    return [
      ...(this.pixelLoss ? [this.pixelLoss] : []),
      ...Object.values(this.optional),
      ...(this.adversarial ? [this.adversarial.module] : []),
      ...(this.featureMatchingLoss ? [this.featureMatchingLoss] : []),
    ];
  }

  generatorInput(batch: ImageBatch): tf.Tensor {
    return batch.img;
  }

  protected output(_batch: ImageBatch, raw: tf.Tensor): tf.Tensor {
    return this.cfg.clamp_output ? tf.clipByValue(raw, 0, 1) : raw;
  }

  protected override runsDiscriminator(): boolean {
    return this.adversarial !== null;
  }

  /** Whether the generator steps at this iteration (`train_cfg`). */
  protected override runsGenerator(): boolean {
    const { disc_steps, disc_init_steps } = this.cfg.train_cfg;
    return (
      this.adversarial === null ||
      (this.iteration % disc_steps === 0 && this.iteration >= disc_init_steps)
    );
  }

  protected generatorLosses(batch: ImageBatch, _raw: tf.Tensor, raw: tf.Tensor): LossDict {
    const gt = batch.gt_img;
    const losses: LossDict = {};
    if (this.pixelLoss) losses.loss_pix = forwardOf(this.pixelLoss)(raw, gt) as tf.Tensor;
    const percep = this.optional.perceptual_loss;
    if (percep) {
      Object.assign(
        losses,
        featureLossTerms(percep, raw, gt, { percep: 'loss_perceptual', style: 'loss_style' }),
      );
    }
    if (this.adversarial) losses.loss_gan = this.generatorGanTerm(gt, raw);
    if (this.featureMatchingLoss) {
      losses.loss_feature_matching = forwardOf(this.featureMatchingLoss)(
        this.disc(raw),
        detachPredictions(this.disc(gt)),
      ) as tf.Tensor;
    }
    for (const key of ['gradient_loss', 'tv_loss'] as const) {
      const m = this.optional[key];
      if (m)
        losses[LOG_KEYS[key]] = forwardOf(m)(
          ...(key === 'tv_loss' ? [raw] : [raw, gt]),
        ) as tf.Tensor;
    }
    return losses;
  }

  private generatorGanTerm(gt: tf.Tensor, out: tf.Tensor): tf.Tensor {
    const adv = this.adversarial as AdversarialTerms;
    if (!this.esrganTerms) return adv.generator(this.disc, gt, out);
    const gan = forwardOf(adv.module);
    const realPred = stopGradient(this.disc(gt) as tf.Tensor);
    const fakePred = this.disc(out) as tf.Tensor;
    return tf.mul(
      tf.add(
        gan(tf.sub(fakePred, tf.mean(realPred)), true, false) as tf.Tensor,
        gan(tf.sub(realPred, tf.mean(fakePred)), false, false) as tf.Tensor,
      ),
      0.5,
    );
  }

  /** ESRGAN's own relativistic terms: type ESRGAN with a one-prediction GAN loss. */
  private get esrganTerms(): boolean {
    const type = this.adversarial?.module.lossType;
    return this.cfg.type === 'ESRGAN' && (type === 'GANLoss' || type === 'GANLossComps');
  }

  protected override discriminatorLosses(batch: ImageBatch, out: tf.Tensor): LossDict {
    const adv = this.adversarial as AdversarialTerms;
    const gt = batch.gt_img;
    if (this.esrganTerms) {
      const gan = forwardOf(adv.module);
      const realPred = this.disc(gt) as tf.Tensor;
      const fakePred = this.disc(out) as tf.Tensor;
      return {
        loss_d_real: tf.mul(
          gan(tf.sub(realPred, tf.mean(stopGradient(fakePred))), true, true) as tf.Tensor,
          0.5,
        ),
        loss_d_fake: tf.mul(
          gan(tf.sub(fakePred, tf.mean(stopGradient(realPred))), false, true) as tf.Tensor,
          0.5,
        ),
      };
    }
    const { real, fake } = adv.discriminator(this.disc, gt, out);
    return fake === null ? { loss_d: real } : { loss_d_real: real, loss_d_fake: fake };
  }
}

/** A multi-scale discriminator's predictions with every tensor detached. */
function detachPredictions(p: DiscPredictions): DiscPredictions {
  return Array.isArray(p) ? p.map((s) => s.map((t) => stopGradient(t))) : stopGradient(p);
}
