import * as tf from '@tensorflow/tfjs';
import '../register.ts';
import { z } from 'zod';
import { LossComponent } from '../components/base.ts';
import type { OutputsDict } from '../core/data-info.ts';
import { ConfigError, GenlossError, NonFiniteLossError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { falseOnlyOption, parseOptions } from '../core/options.ts';
import { SeedGenerator } from '../core/random.ts';
import { type BuildConfig, LOSSES } from '../core/registry.ts';
import { normModeOption } from '../losses/penalties.ts';
import { isRelativisticGanLoss, type RelativisticGanLossModule } from '../losses/relativistic.ts';
import { blurRadius, blurSigma, discriminatorBlur } from './disc-blur.ts';
import {
  type DiscriminatorNet,
  type GeneratorNet,
  toDiscriminator,
  toGenerator,
} from './net-adapters.ts';
import { type LogVars, optimiseLosses } from './optimise.ts';
import { buildOptimizer } from './optimizers.ts';
import type { LossDict } from './parse-losses.ts';
import { takeSnapshot } from './snapshot.ts';

const OWNER = 'GANWithCustomizedLoss';

const lossConfigSchema = z.looseObject({ type: z.string() });
const lossListSchema = z
  .union([lossConfigSchema, z.array(lossConfigSchema)])
  .nullable()
  .default(null);

/**
 * StyleGAN2's `loss_config` keys, verbatim, with MMagic's code defaults: R1 every `r1_interval`
 * iterations with weight `r1_loss_weight` (γ/2 · interval), the path-length regulariser every
 * `g_reg_interval` with weight `g_reg_weight`, both at iterations 0, k, 2k, …
 */
export const styleGAN2LossConfig = z.strictObject({
  r1_loss_weight: z.number().finite().default(80),
  r1_interval: z.int().min(1).default(16),
  norm_mode: normModeOption,
  g_reg_interval: z.int().min(1).default(4),
  g_reg_weight: z.number().finite().default(8),
  pl_batch_shrink: z.int().min(1).default(2),
  r1_use_apex_amp: falseOnlyOption,
  g_reg_use_apex_amp: falseOnlyOption,
  scale_r1_loss: z.boolean().default(false),
});

/** The JSON part of the model's config (the networks are given as objects beside it). */
export const ganModelOptions = z.strictObject({
  gan_loss: lossConfigSchema.nullable().default(null),
  disc_auxiliary_loss: lossListSchema,
  gen_auxiliary_loss: lossListSchema,
  loss_config: styleGAN2LossConfig.nullable().default(null),
  optimizers: z.strictObject({ generator: z.unknown(), discriminator: z.unknown() }),
  discriminator_steps: z.int().min(1).default(1),
  generator_steps: z.int().min(1).default(1),
  skip_nonfinite: z.boolean().default(false),
  lazy_reg_correction: z.boolean().default(false),
  blur_init_sigma: z.number().finite().min(0).default(0),
  blur_fade_kimg: z.number().finite().min(0).default(0),
  seed: z.int().optional(),
});

/** The config of {@link GANWithCustomizedLoss}: networks plus MMagic-style loss configs. */
export type GANModelConfig = z.input<typeof ganModelOptions> & {
  /** A `tf.LayersModel` (z → images) or a `GeneratorNet`. */
  generator: unknown;
  /** A `tf.LayersModel` (images → predictions) or a `DiscriminatorNet`. */
  discriminator: unknown;
};

/**
 * A training batch: real images N×H×W×C, plus any other named inputs, which join the outputs
 * dict of both phases (so a component's `data_info` can map them: masks, injected draws).
 */
export interface TrainData {
  real_imgs: tf.Tensor;
  [key: string]: unknown;
}

export type { LogVars };

/**
 * The GAN loss of a StyleGAN2 `loss_config` without `gan_loss`: MMagic's `StyleGAN2` hard-codes the
 * non-saturating logistic loss, `softplus(D(fake))`, `softplus(−D(real))` for D and
 * `softplus(−D(fake))` for G, each a batch mean — `GANLossComps` with `wgan-logistic-ns`.
 */
const STYLEGAN2_GAN_LOSS: BuildConfig = { type: 'GANLossComps', gan_type: 'wgan-logistic-ns' };

/** The GAN loss interface the model calls (`GANLoss`, `GANLossComps`). */
interface GanLossModule extends LossModule {
  forward(input: tf.Tensor, target_is_real: boolean, is_disc?: boolean): tf.Tensor;
}

/** A `gan_loss`: one prediction a call (`GANLoss`, `GANLossComps`) or both (`RelativisticGANLoss`). */
type ModelGanLoss = GanLossModule | RelativisticGanLossModule;

function asList(cfg: BuildConfig | BuildConfig[] | null): BuildConfig[] {
  return cfg === null ? [] : Array.isArray(cfg) ? cfg : [cfg];
}

function buildComponents(key: string, cfgs: BuildConfig[]): LossComponent[] {
  return cfgs.map((cfg) => {
    const module = LOSSES.build(cfg);
    if (!(module instanceof LossComponent)) {
      const comps = `${cfg.type}Comps`;
      if (LOSSES.has(comps)) {
        throw new ConfigError(
          `${OWNER}: ${key} '${cfg.type}' is not a data_info component: use '${comps}', the component that wraps it (same keys plus data_info)`,
        );
      }
      throw new ConfigError(
        `${OWNER}: ${key} '${cfg.type}' is not a data_info component (use a *Comps loss; a loss of two images such as PerceptualLoss goes in a restorer's perceptual_loss or an inpaintor's loss_composed_percep/loss_out_percep, model.type SRGAN, ESRGAN, BaseEditModel or OneStageInpaintor; \`genloss list\` shows where each loss goes)`,
      );
    }
    if (module.dataInfo === null) {
      throw new ConfigError(
        `${OWNER}: ${key} '${cfg.type}' needs data_info to read the model's outputs`,
      );
    }
    return module;
  });
}

/** StyleGAN2-ADA's lazy-regularisation ratio k/(k+1) for the largest interval k > 1, else 1. */
function lazyRatio(components: readonly LossComponent[]): number {
  const k = Math.max(1, ...components.map((c) => c.interval));
  return k > 1 ? k / (k + 1) : 1;
}

/**
 * A GAN trained from loss components named in its config, with no model code per loss (MMagic's
 * BaseGAN with `loss_config`). Each `trainStep`:
 *
 * 1. **Discriminator phase**, every iteration. Outputs: `gen`, `disc`, `disc_pred_fake`,
 *    `disc_pred_real`, `fake_imgs`, `real_imgs`, `iteration`, `batch_size`, `loss_scaler`.
 *    Losses: `loss_disc_fake = gan_loss(D(fake), false, is_disc)`, `loss_disc_real =
 *    gan_loss(D(real), true, is_disc)`, then each `disc_auxiliary_loss` component called with the
 *    outputs (summed under its `lossName()`; `null` skipped).
 * 2. **Generator phase**, when `(iteration + 1) % discriminator_steps === 0`, `generator_steps`
 *    times, D frozen. Outputs: `gen`, `disc`, `fake_imgs`, `disc_pred_fake_g`, `iteration`,
 *    `batch_size`, `loss_scaler`. Losses: the GAN term `gan_loss(D(fake), true)` (with its
 *    `loss_weight`) under `genGanLossKey`, then each `gen_auxiliary_loss` component.
 *
 * A relativistic `gan_loss` (one with `relativisticTerms`, such as `RelativisticGANLoss`) compares
 * real and fake predictions in one call: the discriminator phase logs its real term as
 * `loss_disc_real` and its fake term as `loss_disc_fake` (TF-GAN's sum of two cross-entropies,
 * split); the generator phase also runs the discriminator on the real batch (one more D forward
 * pass a generator step, D frozen; output `disc_pred_real_g`) and logs the sum of the generator's
 * two terms under `genGanLossKey`. Other GAN losses are called as above.
 *
 * Each phase optimises `parseLosses(losses).loss` (the sum of keys containing `loss`). The logged
 * keys are MMagic's for each setup:
 *
 * - BaseGAN (`gan_loss`, no `loss_config`): D `loss_disc_fake`, `loss_disc_real`, then the
 *   components' `lossName()`s; G `loss_disc_fake_g`, then the components' (MMagic
 *   `BaseGAN._get_disc_loss`, `_get_gen_loss`).
 * - StyleGAN2 (`loss_config`): D `loss_disc_fake`, `loss_disc_real`, `loss_r1_gp`; G `loss_gen`,
 *   `loss_path_regular` (MMagic `StyleGAN2.disc_loss`, `gen_loss`), the regularisers on their lazy
 *   iterations only. `gan_loss` defaults to `GANLossComps` `wgan-logistic-ns` (the softplus terms
 *   MMagic's StyleGAN2 hard-codes); auxiliary components, if any, follow the GAN terms.
 *
 * `loss_config` adds R1 and path-length components with lazy intervals; `lazy_reg_correction`
 * applies StyleGAN2-ADA's `lr·r`, `β^r` (r = k/(k+1)) to the optimizers. A step is atomic: an
 * exception, or a non-finite loss, undoes it — weights, optimizer state and loss buffers are put
 * back; with `skip_nonfinite` the step is skipped (`log_vars.skipped = 1`) instead of throwing a
 * `NonFiniteLossError` that names the loss.
 *
 * `blur_init_sigma` and `blur_fade_kimg` add StyleGAN3's blur of every discriminator input (real
 * and fake, both phases, and inside the regularisers, which get the blurred `disc`): σ fades
 * linearly from `blur_init_sigma` to 0 over `blur_fade_kimg` thousand real images, with
 * `cur_nimg = iteration · batch_size` ({@link blurSigma}, {@link discriminatorBlur}). Off by default.
 */
export class GANWithCustomizedLoss {
  readonly generator: GeneratorNet;
  readonly discriminator: DiscriminatorNet;
  readonly ganLoss: ModelGanLoss;
  readonly discAuxiliaryLosses: LossComponent[];
  readonly genAuxiliaryLosses: LossComponent[];
  readonly optimizers: { generator: tf.Optimizer; discriminator: tf.Optimizer };
  readonly cfg: z.output<typeof ganModelOptions>;
  /**
   * The generator's GAN term's log key: `loss_gen` with a `loss_config` (StyleGAN2), else
   * `loss_disc_fake_g` (BaseGAN).
   */
  readonly genGanLossKey: 'loss_gen' | 'loss_disc_fake_g';
  /** The 0-based iteration of the next step. */
  iteration = 0;
  /**
   * When set, times the step's phases: `D step` and `G step` (each phase's forward, backward and
   * update), and within them `regularisers` (the auxiliary loss components' forward passes; their
   * backward is in the step's). The CLI sets a `PhaseTimer` (src/train/phase-timer.ts).
   */
  timer?: { time<T>(phase: string, fn: () => T): T };
  private readonly disc: (x: tf.Tensor) => tf.Tensor;
  private blurSigmaNow = 0;

  constructor({ generator, discriminator, ...rest }: GANModelConfig) {
    this.cfg = parseOptions(OWNER, ganModelOptions, rest);
    const rng = this.cfg.seed === undefined ? undefined : new SeedGenerator(this.cfg.seed);
    this.generator = toGenerator(OWNER, generator, rng);
    this.discriminator = toDiscriminator(OWNER, discriminator);
    // StyleGAN3's run_D: blur, then D; the blurred function is also the `disc` output, so R1's
    // gradient is w.r.t. the unblurred image, through the blur.
    this.disc = (x) =>
      blurRadius(this.blurSigmaNow) > 0
        ? this.discriminator.apply(discriminatorBlur(x, this.blurSigmaNow))
        : this.discriminator.apply(x);
    const lc = this.cfg.loss_config;
    const ganCfg =
      (this.cfg.gan_loss as BuildConfig | null) ?? (lc === null ? null : STYLEGAN2_GAN_LOSS);
    if (ganCfg === null) {
      throw new ConfigError(
        `${OWNER}: option 'gan_loss' must be a loss config ({type: ...}) when there is no loss_config (StyleGAN2's loss_config defaults it), got null`,
      );
    }
    this.ganLoss = LOSSES.build(ganCfg) as ModelGanLoss;
    this.genGanLossKey = lc === null ? 'loss_disc_fake_g' : 'loss_gen';
    const discCfgs = asList(this.cfg.disc_auxiliary_loss as BuildConfig[] | null);
    const genCfgs = asList(this.cfg.gen_auxiliary_loss as BuildConfig[] | null);
    if (lc !== null) {
      discCfgs.push({
        type: 'R1GradientPenaltyComps',
        loss_weight: lc.r1_loss_weight,
        interval: lc.r1_interval,
        norm_mode: lc.norm_mode,
        data_info: { discriminator: 'disc', real_data: 'real_imgs' },
      });
      genCfgs.push({
        type: 'GeneratorPathRegularizerComps',
        loss_weight: lc.g_reg_weight,
        interval: lc.g_reg_interval,
        pl_batch_shrink: lc.pl_batch_shrink,
        data_info: { generator: 'gen', num_batches: 'batch_size' },
      });
    }
    this.discAuxiliaryLosses = buildComponents('disc_auxiliary_loss', discCfgs);
    this.genAuxiliaryLosses = buildComponents('gen_auxiliary_loss', genCfgs);
    const correct = this.cfg.lazy_reg_correction;
    this.optimizers = {
      generator: buildOptimizer(
        `${OWNER}: optimizers.generator`,
        this.cfg.optimizers.generator,
        correct ? lazyRatio(this.genAuxiliaryLosses) : 1,
      ),
      discriminator: buildOptimizer(
        `${OWNER}: optimizers.discriminator`,
        this.cfg.optimizers.discriminator,
        correct ? lazyRatio(this.discAuxiliaryLosses) : 1,
      ),
    };
  }

  /** Every loss module: the GAN loss, then the discriminator's and the generator's components. */
  losses(): LossModule[] {
    return [this.ganLoss, ...this.discAuxiliaryLosses, ...this.genAuxiliaryLosses];
  }

  /** The state a failed step must not change: weights and loss buffers. */
  private stateVariables(): tf.Variable[] {
    return [
      ...this.generator.variables,
      ...this.discriminator.variables,
      ...this.losses().flatMap((m) => m.buffers()),
    ];
  }

  /** One training step (discriminator phase, then generator phase); returns `log_vars`. */
  async trainStep({ real_imgs, ...inputs }: TrainData): Promise<LogVars> {
    if (!(real_imgs instanceof tf.Tensor) || real_imgs.rank !== 4) {
      throw new GenlossError(`${OWNER}: 'real_imgs' must be an N×H×W×C tensor`);
    }
    this.blurSigmaNow = blurSigma(
      this.iteration,
      real_imgs.shape[0],
      this.cfg.blur_init_sigma,
      this.cfg.blur_fade_kimg,
    );
    const optimizers = [this.optimizers.discriminator, this.optimizers.generator];
    const snapshot = await takeSnapshot(this.stateVariables(), optimizers);
    try {
      const log = this.timed('D step', () => this.discriminatorPhase(real_imgs, inputs));
      const runGenerator = (this.iteration + 1) % this.cfg.discriminator_steps === 0;
      const steps = runGenerator ? this.cfg.generator_steps : 0;
      const genLogs = Array.from({ length: steps }, () =>
        this.timed('G step', () => this.generatorPhase(real_imgs, inputs)),
      );
      for (const key of Object.keys(genLogs[0] ?? {})) {
        if (key !== 'loss') log[key] = genLogs.reduce((s, g) => s + g[key], 0) / genLogs.length;
      }
      this.iteration += 1;
      return log;
    } catch (error) {
      await snapshot.restore();
      if (error instanceof NonFiniteLossError && this.cfg.skip_nonfinite) {
        this.iteration += 1;
        return { ...error.log, skipped: 1 };
      }
      throw error;
    } finally {
      snapshot.dispose();
    }
  }

  /**
   * The σ of StyleGAN3's discriminator-input blur in the latest step (0: no blur; a σ below 1/3
   * also blurs nothing, as StyleGAN3's `⌊3σ⌋ = 0`).
   */
  get discBlurSigma(): number {
    return this.blurSigmaNow;
  }

  private timed<T>(phase: string, fn: () => T): T {
    return this.timer ? this.timer.time(phase, fn) : fn();
  }

  private baseOutputs(batchSize: number, inputs: OutputsDict): OutputsDict {
    return {
      ...inputs,
      gen: this.generator,
      disc: this.disc,
      iteration: this.iteration,
      batch_size: batchSize,
      loss_scaler: null,
    };
  }

  private discriminatorPhase(real: tf.Tensor, inputs: OutputsDict): LogVars {
    const n = real.shape[0];
    const fake = tf.tidy(() => this.generator.synthesis(this.generator.mapping(n)));
    try {
      return this.optimise('discriminator', this.discriminator.variables, () => {
        const predFake = this.disc(fake);
        const predReal = this.disc(real);
        const outputs = {
          ...this.baseOutputs(n, inputs),
          disc_pred_fake: predFake,
          disc_pred_real: predReal,
          fake_imgs: fake,
          real_imgs: real,
        };
        const losses: LossDict = discGanLosses(this.ganLoss, predReal, predFake);
        return this.timed('regularisers', () =>
          addComponents(losses, this.discAuxiliaryLosses, outputs),
        );
      });
    } finally {
      fake.dispose();
    }
  }

  private generatorPhase(real: tf.Tensor, inputs: OutputsDict): LogVars {
    const n = real.shape[0];
    const ganLoss = this.ganLoss;
    return this.optimise('generator', this.generator.variables, () => {
      const fake = this.generator.synthesis(this.generator.mapping(n));
      const predFake = this.disc(fake);
      const outputs: OutputsDict = {
        ...this.baseOutputs(n, inputs),
        fake_imgs: fake,
        disc_pred_fake_g: predFake,
      };
      let ganTerm: tf.Tensor;
      if (isRelativisticGanLoss(ganLoss)) {
        // A relativistic loss compares with D(real): one more discriminator forward pass.
        const predReal = this.disc(real);
        outputs.disc_pred_real_g = predReal;
        const { real: realTerm, fake: fakeTerm } = ganLoss.relativisticTerms(
          predReal,
          predFake,
          false,
        );
        ganTerm = tf.add(realTerm, fakeTerm);
      } else {
        ganTerm = ganLoss.forward(predFake, true, false);
      }
      const losses: LossDict = { [this.genGanLossKey]: ganTerm };
      return this.timed('regularisers', () =>
        addComponents(losses, this.genAuxiliaryLosses, outputs),
      );
    });
  }

  private optimise(
    phase: 'discriminator' | 'generator',
    variables: tf.Variable[],
    build: () => LossDict,
  ): LogVars {
    return optimiseLosses(OWNER, phase, this.optimizers[phase], variables, build);
  }

  /** Frees the loss modules' state and the optimizers (not the networks, which the caller owns). */
  dispose(): void {
    for (const m of this.losses()) {
      m.dispose();
    }
    this.optimizers.generator.dispose();
    this.optimizers.discriminator.dispose();
  }
}

/**
 * The discriminator's GAN terms: `loss_disc_fake = gan_loss(D(fake), false, true)` and
 * `loss_disc_real = gan_loss(D(real), true, true)`, or a relativistic loss's `fake` and `real`
 * terms (their sum is the loss).
 */
function discGanLosses(ganLoss: ModelGanLoss, predReal: tf.Tensor, predFake: tf.Tensor): LossDict {
  if (isRelativisticGanLoss(ganLoss)) {
    const { real, fake } = ganLoss.relativisticTerms(predReal, predFake, true);
    return { loss_disc_fake: fake, loss_disc_real: real };
  }
  return {
    loss_disc_fake: ganLoss.forward(predFake, false, true),
    loss_disc_real: ganLoss.forward(predReal, true, true),
  };
}

/** Adds each component's value to `losses` under its `lossName()` (summing equal names; skipping nulls). */
function addComponents(
  losses: LossDict,
  components: readonly LossComponent[],
  outputs: OutputsDict,
): LossDict {
  for (const component of components) {
    const value = component.forward(outputs);
    if (value === null) continue;
    const name = component.lossName();
    const previous = losses[name];
    losses[name] = previous === undefined ? value : tf.add(previous as tf.Tensor, value);
  }
  return losses;
}
