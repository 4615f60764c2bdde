import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { choiceMessage, lossOptions } from '../core/options.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';
import { checkGanType, GAN_LOSS_COMPS_TYPES, type GanType, ganLoss } from './gan.ts';

/** The GAN loss types a relativistic loss can wrap (those of `GANLossComps`). */
export const RELATIVISTIC_GAN_TYPES = GAN_LOSS_COMPS_TYPES;
/** A GAN loss type a relativistic loss can wrap. */
export type RelativisticGanType = (typeof RELATIVISTIC_GAN_TYPES)[number];

/** How a prediction is compared with the other set's: its batch mean, or its paired sample. */
export const RELATIVISTIC_MODES = ['average', 'pairwise'] as const;
/** A relativistic mode. */
export type RelativisticMode = (typeof RELATIVISTIC_MODES)[number];

/**
 * One relativistic term, element-wise (not reduced): the wrapped `gan_type`'s loss of the
 * relativistic logits `x`, pushed towards "real" (`towardsReal`) or "fake". Targets are symmetric
 * (±1 for lsgan, as RaLSGAN), and the same for the discriminator and the generator:
 *
 * | gan_type | towards real | towards fake |
 * | --- | --- | --- |
 * | vanilla, wgan-logistic-ns | `softplus(−x)` = BCE(x, 1) | `softplus(x)` = BCE(x, 0) |
 * | lsgan | `(x − 1)²` | `(x + 1)²` |
 * | hinge | `relu(1 − x)` | `relu(1 + x)` |
 * | wgan | `−x` | `x` |
 *
 * Each satisfies `term(x, real) = term(−x, fake)`. Shared with `AdvLoss`'s `ragan` (vanilla) and
 * `ragan-ls` (lsgan).
 */
export function relativisticTerm(
  ganType: RelativisticGanType,
  x: tf.Tensor,
  towardsReal: boolean,
): tf.Tensor {
  return tf.tidy(() => {
    switch (ganType) {
      case 'vanilla':
      case 'wgan-logistic-ns':
        return tf.softplus(towardsReal ? tf.neg(x) : x);
      case 'lsgan':
        return tf.square(towardsReal ? tf.sub(x, 1) : tf.add(x, 1));
      case 'hinge':
        return tf.relu(towardsReal ? tf.sub(1, x) : tf.add(1, x));
      case 'wgan':
        return towardsReal ? tf.neg(x) : tf.clone(x);
    }
  });
}

/**
 * `mean relativisticTerm(ganType, x, towardsReal)`: `ganLoss`'s discriminator loss of `x` towards
 * the real label 1 or the fake label (−1 for lsgan, whose relativistic targets are symmetric; 0
 * otherwise), so that it runs in the fused GAN-loss kernels where the backend has them.
 */
function relativisticTermMean(
  ganType: RelativisticGanType,
  x: tf.Tensor,
  towardsReal: boolean,
): tf.Tensor {
  const fake_label_val = ganType === 'lsgan' ? -1 : 0;
  return ganLoss(x, towardsReal, { gan_type: ganType, is_disc: true, fake_label_val });
}

/**
 * The two relativistic-average terms, given the reference each set is compared with
 * (`refFake` for the real predictions, `refReal` for the fake ones: a batch mean, a pool's mean,
 * or, pairwise, the other set itself). The discriminator pushes `predReal − refFake` towards real
 * and `predFake − refReal` towards fake; the generator the other way round. Each term is a mean
 * over its elements.
 */
export function relativisticTerms(
  ganType: RelativisticGanType,
  predReal: tf.Tensor,
  predFake: tf.Tensor,
  refFake: tf.Tensor,
  refReal: tf.Tensor,
  isDisc: boolean,
): { real: tf.Tensor; fake: tf.Tensor } {
  return {
    real: tf.tidy(() => relativisticTermMean(ganType, tf.sub(predReal, refFake), isDisc)),
    fake: tf.tidy(() => relativisticTermMean(ganType, tf.sub(predFake, refReal), !isDisc)),
  };
}

/** Options of {@link relativisticGanLoss}. */
export interface RelativisticGanLossOptions {
  /** The wrapped loss type (required): `vanilla|lsgan|wgan|wgan-logistic-ns|hinge`. */
  gan_type: RelativisticGanType;
  /** `'average'` (default; TF-GAN, RaGAN) or `'pairwise'` (RGAN). */
  relativistic?: RelativisticMode;
  /** Discriminator (true) or generator (false, default) loss. */
  is_disc?: boolean;
}

/**
 * Relativistic GAN losses of the discriminator's predictions on real and fake samples (Jolicoeur-
 * Martineau 2018, "The relativistic discriminator"), over any `GANLossComps` type, as two terms
 * `{real, fake}` (scalars) whose sum is the loss. With `C_r = predReal`, `C_f = predFake` and
 * {@link relativisticTerm}'s `L(x, towards)`:
 *
 * - `average` (RaGAN; TF-GAN's `relativistic_discriminator_loss` and
 *   `relativistic_generator_loss` for vanilla): discriminator `real = mean L(C_r − mean C_f, real)`,
 *   `fake = mean L(C_f − mean C_r, fake)`; generator the same with the directions swapped. The means
 *   are over every element; the two sets may differ in size. vanilla is RaSGAN, lsgan RaLSGAN
 *   (`E(C_r − E C_f − 1)² + E(C_f − E C_r + 1)²`), hinge RaHinge.
 * - `pairwise` (RGAN: RSGAN, RLSGAN, RHingeGAN): each real prediction is compared with the fake one
 *   at the same position (equal shapes), `real = ½ mean L(C_r − C_f, real)`,
 *   `fake = ½ mean L(C_f − C_r, fake)` for the discriminator (swapped for the generator). The two
 *   halves are equal (`L(x, real) = L(−x, fake)`), so the sum is the paper's single expectation
 *   `E L(C_r − C_f, real)` (discriminator), `E L(C_f − C_r, real)` (generator).
 *
 * Gradients flow into both predictions, through the means too.
 */
export function relativisticGanLoss(
  predReal: tf.Tensor,
  predFake: tf.Tensor,
  options: Options<RelativisticGanLossOptions>,
  owner = 'relativisticGanLoss',
): { real: tf.Tensor; fake: tf.Tensor } {
  const {
    gan_type,
    relativistic = 'average',
    is_disc = false,
  } = checkOptions(
    'relativisticGanLoss',
    3,
    options,
    'relativisticGanLoss(predReal, predFake, {gan_type, relativistic, is_disc})',
  );
  const type = checkGanType(owner, gan_type, RELATIVISTIC_GAN_TYPES) as RelativisticGanType;
  if (!(RELATIVISTIC_MODES as readonly unknown[]).includes(relativistic)) {
    throw new ConfigError(choiceMessage(owner, 'relativistic', relativistic, RELATIVISTIC_MODES));
  }
  if (typeof is_disc !== 'boolean') {
    throw new ConfigError(
      `${owner}: 'is_disc' must be true or false, got ${describeValue(is_disc)}`,
    );
  }
  const real = checkTensor(owner, 'predReal', predReal);
  const fake = checkTensor(owner, 'predFake', predFake);
  if (relativistic === 'average') {
    return tf.tidy(() =>
      relativisticTerms(type, real, fake, tf.mean(fake), tf.mean(real), is_disc),
    );
  }
  if (!tf.util.arraysEqual(real.shape, fake.shape)) {
    throw new ShapeError(
      `${owner}: relativistic 'pairwise' compares each real prediction with the fake one at the same position, so predReal and predFake must have the same shape, got [${real.shape.join(', ')}] and [${fake.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => {
    const { real: r, fake: f } = relativisticTerms(type, real, fake, fake, real, is_disc);
    return { real: tf.mul(r, 0.5), fake: tf.mul(f, 0.5) };
  });
}

/**
 * What a model needs of a relativistic GAN loss: both predictions in one call. A
 * `GANWithCustomizedLoss` whose `gan_loss` has `relativisticTerms` calls it instead of
 * `forward(pred, target_is_real, is_disc)`.
 */
export interface RelativisticGanLossModule extends LossModule {
  /** The loss's two terms `{real, fake}` (scalars, `loss_weight` applied as the module does). */
  relativisticTerms(
    predReal: tf.Tensor,
    predFake: tf.Tensor,
    isDisc: boolean,
  ): { real: tf.Tensor; fake: tf.Tensor };
}

/** Whether `module` is a relativistic GAN loss (has a `relativisticTerms` method). */
export function isRelativisticGanLoss(module: unknown): module is RelativisticGanLossModule {
  return (
    module instanceof LossModule &&
    typeof (module as Partial<RelativisticGanLossModule>).relativisticTerms === 'function'
  );
}

function relativisticOptions() {
  return lossOptions(
    { loss_name: 'loss_gan' },
    {
      gan_type: z.enum(RELATIVISTIC_GAN_TYPES),
      relativistic: z.enum(RELATIVISTIC_MODES).default('average'),
    },
  );
}

/**
 * `RelativisticGANLoss` (genloss; TF-GAN's relativistic losses generalised to every
 * `GANLossComps` type): see {@link relativisticGanLoss}. Config: `gan_type` (required:
 * `vanilla|lsgan|wgan|wgan-logistic-ns|hinge`), `relativistic` (`'average'` or `'pairwise'`),
 * `loss_weight` 1.0 — applied to generator calls only, as `GANLoss` — and `loss_name`
 * (`'loss_gan'`). `forward(predReal, predFake, is_disc)` gives the sum of the two terms;
 * `relativisticTerms` gives them apart, which `GANWithCustomizedLoss` logs as `loss_disc_real`
 * and `loss_disc_fake` (see there; its generator phase then also runs the discriminator on the
 * real batch).
 */
export class RelativisticGANLoss
  extends LossModule<ReturnType<typeof relativisticOptions>>
  implements RelativisticGanLossModule
{
  static override readonly lossType = 'RelativisticGANLoss';
  static override readonly options = relativisticOptions();

  constructor(cfg: z.input<ReturnType<typeof relativisticOptions>>) {
    const given = (cfg as { gan_type?: unknown } | null | undefined)?.gan_type;
    // Checked before the schema to name the class that has a type this one does not wrap.
    if (given !== undefined) checkGanType('RelativisticGANLoss', given, RELATIVISTIC_GAN_TYPES);
    super(cfg);
  }

  /** The wrapped type. */
  get ganType(): GanType {
    return this.cfg.gan_type;
  }

  /**
   * @param predReal discriminator predictions on real samples, any shape.
   * @param predFake discriminator predictions on fake samples (the same shape for `pairwise`).
   * @param is_disc discriminator loss (no `loss_weight`); default false (generator).
   * @returns `{real, fake}` scalars.
   */
  relativisticTerms(
    predReal: tf.Tensor,
    predFake: tf.Tensor,
    is_disc = false,
  ): { real: tf.Tensor; fake: tf.Tensor } {
    const { gan_type, relativistic } = this.cfg;
    const terms = relativisticGanLoss(
      predReal,
      predFake,
      { gan_type, relativistic, is_disc },
      this.lossType,
    );
    if (is_disc) return terms;
    const weighted = {
      real: tf.mul(terms.real, this.lossWeight),
      fake: tf.mul(terms.fake, this.lossWeight),
    };
    tf.dispose([terms.real, terms.fake]);
    return weighted;
  }

  /**
   * @param predReal discriminator predictions on real samples, any shape.
   * @param predFake discriminator predictions on fake samples (the same shape for `pairwise`).
   * @param is_disc discriminator loss (no `loss_weight`); default false (generator).
   * @returns the loss, `real + fake` (a scalar).
   */
  forward(predReal: tf.Tensor, predFake: tf.Tensor, is_disc = false): tf.Tensor {
    return tf.tidy(() => {
      const { real, fake } = this.relativisticTerms(predReal, predFake, is_disc);
      return tf.add(real, fake);
    });
  }
}
