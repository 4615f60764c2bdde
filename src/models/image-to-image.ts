import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { ConfigError, GenlossError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { isRelativisticGanLoss } from '../losses/relativistic.ts';
import { buildRoleLoss, forwardOf, type LossRole } from './loss-roles.ts';
import { type LogVars, optimiseLosses } from './optimise.ts';
import { buildOptimizer } from './optimizers.ts';
import type { LossDict } from './parse-losses.ts';
import { takeSnapshot } from './snapshot.ts';

/** A batch of an image-to-image model: named N×H×W×C tensors (`img`, `gt_img`, `mask`, …). */
export type ImageBatch = Record<string, tf.Tensor4D>;

/**
 * A discriminator's predictions: one tensor, or for a multi-scale discriminator, per scale its
 * intermediate features and then its prediction (pix2pixHD's `MultiscaleDiscriminator` with
 * `getIntermFeat`), as BasicSR's `MultiScaleGANLoss` and `GANFeatLoss` take them.
 */
export type DiscPredictions = tf.Tensor | tf.Tensor[][];

/** The networks and optimizers of an image-to-image model. */
export interface ImageToImageNets {
  /** Input batch tensor(s) → output, a `tf.LayersModel` with one input. */
  generator: tf.LayersModel;
  /** Images → predictions; null for a model without adversarial training. */
  discriminator: tf.LayersModel | null;
  /**
   * For a multi-output discriminator, the number of scales its outputs are split into (each
   * scale's features then its prediction, in order); 1 otherwise.
   */
  discriminatorScales?: number;
  /** Optimizer configs (`{type: 'Adam', lr, betas}`), by network. */
  optimizers: { generator: unknown; discriminator?: unknown };
}

/**
 * The adversarial part of an image-to-image model, from its `gan_loss` config: the generator's
 * term and the discriminator's real and fake terms, for every GAN loss a model can call there —
 * `GANLoss`/`GANLossComps` (`gan(D(x), is_real, is_disc)`), `MultiScaleGANLoss` (the same over a
 * multi-scale discriminator's predictions), `RelativisticGANLoss` (both predictions in one call,
 * ESRGAN's relativistic-average loss) and `AdvLoss` (which runs the discriminator itself).
 */
export class AdversarialTerms {
  readonly module: LossModule;
  private readonly role: LossRole;

  constructor(owner: string, key: string, cfg: unknown, scales: number) {
    const built = buildRoleLoss(owner, key, ['gan', 'adv'], cfg);
    if (built === null) throw new ConfigError(`${owner}: option '${key}' is required here`);
    this.module = built.module;
    this.role = built.role;
    const multiScale = this.module.lossType === 'MultiScaleGANLoss';
    if (scales > 1 && !multiScale) {
      throw new ConfigError(
        `${owner}: option '${key}' is ${this.module.lossType}, which takes one prediction per image; the discriminator gives ${scales} scales of outputs: use MultiScaleGANLoss`,
      );
    }
  }

  /** The generator's adversarial term for `fake` (`real` is used by relativistic losses). */
  generator(disc: (x: tf.Tensor) => DiscPredictions, real: tf.Tensor, fake: tf.Tensor): tf.Tensor {
    const m = this.module;
    if (this.role === 'adv') return forwardOf(m)(disc, fake, real, 'generator') as tf.Tensor;
    if (isRelativisticGanLoss(m)) {
      const { real: r, fake: f } = m.relativisticTerms(
        stopGradient(disc(real) as tf.Tensor),
        disc(fake) as tf.Tensor,
        false,
      );
      return tf.add(r, f);
    }
    return forwardOf(m)(disc(fake), true, false) as tf.Tensor;
  }

  /**
   * The discriminator's terms (fake images detached by the caller): `{real, fake}`, or for
   * `AdvLoss`, which sums both in one call, `{real: the sum, fake: null}`.
   */
  discriminator(
    disc: (x: tf.Tensor) => DiscPredictions,
    real: tf.Tensor,
    fake: tf.Tensor,
  ): { real: tf.Tensor; fake: tf.Tensor | null } {
    const m = this.module;
    if (this.role === 'adv') {
      return { real: forwardOf(m)(disc, fake, real, 'discriminator') as tf.Tensor, fake: null };
    }
    if (isRelativisticGanLoss(m)) {
      return m.relativisticTerms(disc(real) as tf.Tensor, disc(fake) as tf.Tensor, true);
    }
    const forward = forwardOf(m);
    return {
      real: forward(disc(real), true, true) as tf.Tensor,
      fake: forward(disc(fake), false, true) as tf.Tensor,
    };
  }
}

/**
 * Base of the models that map an input batch to an output image — restoration, inpainting and
 * matting — each configured the MMagic way, one loss per config key (see {@link LossKeys}). A
 * subclass says how the generator's input is made from the batch, what the model's output is, and
 * which losses each phase sums. Each `trainStep` runs the phases in the subclass's order, each one
 * optimising `parseLosses(losses).loss` for its network; a step is atomic: an exception or a
 * non-finite loss puts weights and optimizer states back (a `NonFiniteLossError` naming the loss).
 */
export abstract class ImageToImageModel {
  readonly generator: tf.LayersModel;
  readonly discriminator: tf.LayersModel | null;
  readonly optimizers: { generator: tf.Optimizer; discriminator?: tf.Optimizer };
  /** The 0-based iteration of the next step. */
  iteration = 0;
  /**
   * When set, times the step's phases, `G step` and `D step` (each phase's forward, backward and
   * update). The CLI sets a `PhaseTimer`.
   */
  timer?: { time<T>(phase: string, fn: () => T): T };
  protected readonly scales: number;

  constructor(
    protected readonly owner: string,
    { generator, discriminator, discriminatorScales = 1, optimizers }: ImageToImageNets,
  ) {
    this.generator = generator;
    this.discriminator = discriminator;
    this.scales = discriminatorScales;
    this.optimizers = {
      generator: buildOptimizer(`${owner}: optimizers.generator`, optimizers.generator),
      ...(discriminator === null
        ? {}
        : {
            discriminator: buildOptimizer(
              `${owner}: optimizers.discriminator`,
              optimizers.discriminator,
            ),
          }),
    };
  }

  /** The loss modules of the config, for `dispose` and the trainer (weights, buffers). */
  abstract losses(): LossModule[];

  /** The generator's input for a batch (N×H×W×C). */
  abstract generatorInput(batch: ImageBatch): tf.Tensor;

  /** The model's output from the generator's raw output (composited, squashed…). */
  protected abstract output(batch: ImageBatch, raw: tf.Tensor): tf.Tensor;

  /** The generator phase's losses, given the batch, the raw output and the model's output. */
  protected abstract generatorLosses(batch: ImageBatch, raw: tf.Tensor, out: tf.Tensor): LossDict;

  /** The discriminator phase's losses for the (detached) model output; only with a discriminator. */
  protected discriminatorLosses(_batch: ImageBatch, _out: tf.Tensor): LossDict {
    return {};
  }

  /** Whether the discriminator phase runs before the generator phase (MMagic's inpaintors). */
  protected get discriminatorFirst(): boolean {
    return false;
  }

  /** Whether the discriminator phase runs at this iteration. */
  protected runsDiscriminator(): boolean {
    return this.discriminator !== null;
  }

  /** Whether the generator phase runs at this iteration. */
  protected runsGenerator(): boolean {
    return true;
  }

  /** The discriminator in training mode, its outputs grouped per scale when it has several. */
  protected readonly disc = (x: tf.Tensor): DiscPredictions => {
    const net = this.discriminator;
    if (net === null) throw new GenlossError(`${this.owner}: the model has no discriminator`);
    const out = net.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
    if (!Array.isArray(out)) return out;
    const per = out.length / this.scales;
    return Array.from({ length: this.scales }, (_, s) => out.slice(s * per, (s + 1) * per));
  };

  /** The model's output for a batch, networks in inference mode: N×H×W×C. */
  predict(batch: ImageBatch): tf.Tensor4D {
    return tf.tidy(() => {
      const raw = this.generator.predict(this.generatorInput(batch)) as tf.Tensor;
      return this.output(batch, raw) as tf.Tensor4D;
    });
  }

  private timed<T>(phase: string, fn: () => T): T {
    return this.timer ? this.timer.time(phase, fn) : fn();
  }

  private variablesOf(net: tf.LayersModel): tf.Variable[] {
    return net.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** One training step on a batch; returns the phases' `log_vars` (each phase's total as `loss_<phase>`). */
  async trainStep(batch: ImageBatch): Promise<LogVars> {
    const nets = [this.generator, ...(this.discriminator ? [this.discriminator] : [])];
    const buffers = this.losses().flatMap((m) => m.buffers());
    const optimizers = Object.values(this.optimizers);
    const snapshot = await takeSnapshot(
      [...nets.flatMap((n) => this.variablesOf(n)), ...buffers],
      optimizers,
    );
    try {
      const log: LogVars = {};
      const phases = (
        this.discriminatorFirst
          ? (['discriminator', 'generator'] as const)
          : (['generator', 'discriminator'] as const)
      ).filter((p) => (p === 'generator' ? this.runsGenerator() : this.runsDiscriminator()));
      let out: tf.Tensor | null = null;
      try {
        for (const phase of phases) {
          let phaseLog: LogVars;
          if (phase === 'generator') {
            const previous: tf.Tensor | undefined = out ?? undefined;
            [phaseLog, out] = this.timed('G step', (): [LogVars, tf.Tensor] =>
              this.generatorPhase(batch, previous),
            );
          } else {
            const detached: tf.Tensor = out ?? this.outputWithoutGradient(batch);
            out = detached;
            phaseLog = this.timed('D step', () => this.discPhase(batch, detached));
          }
          for (const [k, v] of Object.entries(phaseLog))
            log[k === 'loss' ? `loss_${phase}` : k] = v;
        }
      } finally {
        out?.dispose();
      }
      this.iteration += 1;
      return log;
    } catch (error) {
      await snapshot.restore();
      throw error;
    } finally {
      snapshot.dispose();
    }
  }

  /**
   * The generator phase; returns its log and its output (detached, kept: the discriminator phase
   * after it reuses it, as MMagic's SRGAN reuses `fake_g_output.detach()`). `previous`, an output
   * the discriminator phase already used, is disposed by the caller.
   */
  private generatorPhase(batch: ImageBatch, previous?: tf.Tensor): [LogVars, tf.Tensor] {
    let out: tf.Tensor | null = null;
    try {
      const log = optimiseLosses(
        this.owner,
        'generator',
        this.optimizers.generator,
        this.variablesOf(this.generator),
        () => {
          const raw = this.generator.apply(this.generatorInput(batch), {
            training: true,
          }) as tf.Tensor;
          const modelOut = this.output(batch, raw);
          if (previous === undefined) out = tf.keep(stopGradient(modelOut));
          return this.generatorLosses(batch, raw, modelOut);
        },
      );
      return [log, out ?? (previous as tf.Tensor)];
    } catch (error) {
      (out as tf.Tensor | null)?.dispose();
      throw error;
    }
  }

  private discPhase(batch: ImageBatch, out: tf.Tensor): LogVars {
    return optimiseLosses(
      this.owner,
      'discriminator',
      this.optimizers.discriminator as tf.Optimizer,
      this.variablesOf(this.discriminator as tf.LayersModel),
      () => this.discriminatorLosses(batch, out),
    );
  }

  /** The model output the discriminator sees first, without gradient, generator in training mode. */
  private outputWithoutGradient(batch: ImageBatch): tf.Tensor {
    return tf.tidy(() => {
      const raw = this.generator.apply(this.generatorInput(batch), { training: true }) as tf.Tensor;
      return stopGradient(this.output(batch, raw));
    });
  }

  /** Frees the losses' state and the optimizers (not the networks, which the caller owns). */
  dispose(): void {
    for (const m of this.losses()) m.dispose();
    for (const opt of Object.values(this.optimizers)) opt.dispose();
  }
}

/** Calls a `feature`-role loss: its scalar, or `PerceptualLoss`'s `[percep, style]`, as log entries. */
export function featureLossTerms(
  module: LossModule,
  pred: tf.Tensor,
  gt: tf.Tensor,
  keys: { percep: string; style: string },
): LossDict {
  const value = forwardOf(module)(pred, gt);
  if (!Array.isArray(value)) return { [keys.percep]: value };
  const [percep, style] = value;
  return {
    ...(percep === null ? {} : { [keys.percep]: percep }),
    ...(style === null ? {} : { [keys.style]: style }),
  };
}
