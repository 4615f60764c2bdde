import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { ConfigError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { parseOptions } from '../core/options.ts';
import { applyWithFrozenWeights, searchTransformer } from '../nets/ttsr.ts';
import { AdversarialTerms, featureLossTerms, type ImageBatch } from './image-to-image.ts';
import { buildRoleLoss, forwardOf, type LossKeys } from './loss-roles.ts';
import { type LogVars, optimiseLosses } from './optimise.ts';
import { buildOptimizer } from './optimizers.ts';
import type { LossDict } from './parse-losses.ts';
import { takeSnapshot } from './snapshot.ts';

const lossConfig = z.looseObject({ type: z.string() }).nullable().default(null);

/** The loss keys of MMagic's `TTSR` and the roles they take. */
export const TTSR_LOSS_KEYS = {
  pixel_loss: ['pixel'],
  perceptual_loss: ['feature'],
  transferal_perceptual_loss: ['transferal'],
  gan_loss: ['gan', 'adv'],
} as const satisfies LossKeys;

/** The JSON part of a TTSR config (networks and optimizers are given beside it). */
export const ttsrOptions = z.strictObject({
  type: z.literal('TTSR'),
  pixel_loss: lossConfig,
  perceptual_loss: lossConfig,
  transferal_perceptual_loss: lossConfig,
  gan_loss: lossConfig,
  /**
   * MMagic's `train_cfg`: only `loss_pix` (and no discriminator step) before iteration
   * `pixel_init`; SRGAN's generator gating (every `disc_steps` iterations from `disc_init_steps`).
   */
  train_cfg: z
    .strictObject({
      pixel_init: z.int().min(0).default(0),
      disc_steps: z.int().min(1).default(1),
      disc_init_steps: z.int().min(0).default(0),
    })
    .default({ pixel_init: 0, disc_steps: 1, disc_init_steps: 0 }),
});

/** The networks and optimizer configs of a {@link TTSR}. */
export interface TTSRNets {
  /** `TTSRNet`: `[x, soft_attention, textures…]` → the ×4 image in [−1, 1]. */
  generator: tf.LayersModel;
  /** `LTE`: images in [0, 1] → `[level3, level2, level1]` features. */
  extractor: tf.LayersModel;
  /** Images → predictions; null for none. */
  discriminator: tf.LayersModel | null;
  /** Optimizer configs (`{type: 'Adam', lr, betas}`), by network. */
  optimizers: { generator: unknown; extractor: unknown; discriminator?: unknown };
}

/** What one forward pass of a TTSR gives: the output and the transformer's maps. */
interface TTSRForward {
  pred: tf.Tensor;
  softAttention: tf.Tensor4D;
  textures: tf.Tensor4D[];
}

/**
 * Applies each network's gradients with its own optimizer: MMagic's TTSR backpropagates the
 * generator's loss once and steps `optim_wrapper['generator']` and then
 * `optim_wrapper['extractor']`.
 */
class PerNetworkOptimizer extends tf.Optimizer {
  static readonly className = 'GenlossPerNetwork';

  constructor(private readonly parts: readonly [tf.Optimizer, tf.Variable[]][]) {
    super();
  }

  override applyGradients(grads: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const map = Array.isArray(grads)
      ? Object.fromEntries(grads.map((g) => [g.name, g.tensor]))
      : grads;
    for (const [optimizer, variables] of this.parts) {
      const own = Object.fromEntries(
        variables.filter((v) => map[v.name] !== undefined).map((v) => [v.name, map[v.name]]),
      );
      if (Object.keys(own).length > 0) optimizer.applyGradients(own);
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

const toUnit = (x: tf.Tensor) => tf.div(tf.add(x, 1), 2);

/**
 * MMagic's `TTSR` (reference-based super-resolution, a subclass of its `SRGAN`): a generator
 * (`TTSRNet`), a learnable texture extractor (`LTE`, trained by the generator's loss with its own
 * optimizer), the `SearchTransformer`, and optionally a discriminator. Batch, all in [−1, 1]:
 * `img` (the LQ image, N×h×w×3, the generator's input), `img_lq` (it bicubic-upsampled ×4),
 * `ref_img` (the reference, N×4h'×4w'×3), `ref_lq` (the reference down- and upsampled ×4) and
 * `gt_img` (N×4h×4w×3). The extractor sees `(x + 1) / 2`, in [0, 1] as in MMagic.
 *
 * ```
 * S, T = SearchTransformer(LTE(img_lq)[0], LTE(ref_lq)[0], LTE(ref_img))
 * pred = TTSRNet(img, S, T)
 * ```
 *
 * Generator phase (SRGAN's gating: every `train_cfg.disc_steps` iterations from
 * `disc_init_steps`), its gradients stepping both the generator and the extractor:
 * `loss_pix = pixel_loss(pred, gt)`; from iteration `pixel_init` also `loss_perceptual`,
 * `loss_style` from `perceptual_loss(pred, gt)`, `loss_transferal =
 * transferal_perceptual_loss(LTE'((pred + 1)/2), S, T)` where LTE' is the extractor with its
 * current weights detached (MMagic's `extractor_copy`, reloaded every step: gradient to `pred`,
 * none to its weights), and `loss_gan = gan_loss(D(pred), True, is_disc=False)`.
 *
 * Discriminator phase (with a discriminator, from iteration `pixel_init`), on the detached
 * output: `loss_d_real = gan(D(gt), True, True)`, `loss_d_fake = gan(D(pred), False, True)`.
 * A step is atomic: an exception or a non-finite loss puts every weight and optimizer state back.
 */
export class TTSR {
  readonly cfg: z.output<typeof ttsrOptions>;
  readonly generator: tf.LayersModel;
  readonly extractor: tf.LayersModel;
  readonly discriminator: tf.LayersModel | null;
  readonly optimizers: {
    generator: tf.Optimizer;
    extractor: tf.Optimizer;
    discriminator?: tf.Optimizer;
  };
  readonly pixelLoss: LossModule;
  readonly perceptualLoss: LossModule | null;
  readonly transferalLoss: LossModule | null;
  readonly adversarial: AdversarialTerms | null;
  /** The 0-based iteration of the next step. */
  iteration = 0;
  /** When set, times the step's phases, `G step` and `D step`. The CLI sets a `PhaseTimer`. */
  timer?: { time<T>(phase: string, fn: () => T): T };

  constructor(cfg: unknown, { generator, extractor, discriminator, optimizers }: TTSRNets) {
    const o = parseOptions('TTSR', ttsrOptions, cfg);
    this.cfg = o;
    this.generator = generator;
    this.extractor = extractor;
    this.discriminator = discriminator;
    const built: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(x: T): T => {
      built.push(x);
      return x;
    };
    try {
      const width = extractor.outputs[2]?.shape[3];
      const textureChannels = generator.inputs[4]?.shape[3];
      if (width !== textureChannels) {
        throw new ConfigError(
          `TTSR: the extractor's level-1 width (${width}) must equal the generator's texture_channels (${textureChannels})`,
        );
      }
      if (discriminator !== null && discriminator.outputs.length !== 1) {
        throw new ConfigError(`TTSR: the discriminator must give one prediction tensor`);
      }
      this.optimizers = {
        generator: keep(buildOptimizer('TTSR: optimizers.generator', optimizers.generator)),
        extractor: keep(buildOptimizer('TTSR: optimizers.extractor', optimizers.extractor)),
        ...(discriminator === null
          ? {}
          : {
              discriminator: keep(
                buildOptimizer('TTSR: optimizers.discriminator', optimizers.discriminator),
              ),
            }),
      };
      const role = (key: keyof typeof TTSR_LOSS_KEYS) => {
        const m = buildRoleLoss('TTSR', key, TTSR_LOSS_KEYS[key], o[key])?.module ?? null;
        return m === null ? null : keep(m);
      };
      const pixel = role('pixel_loss');
      if (pixel === null) throw new ConfigError(`TTSR: option 'pixel_loss' is required`);
      this.pixelLoss = pixel;
      this.perceptualLoss = role('perceptual_loss');
      this.transferalLoss = role('transferal_perceptual_loss');
      if ((o.gan_loss !== null) !== (discriminator !== null)) {
        throw new ConfigError(
          `TTSR: 'gan_loss' and 'discriminator' go together (got ${o.gan_loss === null ? 'a discriminator without gan_loss' : 'gan_loss without a discriminator'})`,
        );
      }
      this.adversarial =
        discriminator === null ? null : new AdversarialTerms('TTSR', 'gan_loss', o.gan_loss, 1);
      if (this.adversarial) keep(this.adversarial.module);
    } catch (error) {
      for (const x of built) x.dispose();
      throw error;
    }
  }

  /** The loss modules of the config, for `dispose` and the trainer (weights, buffers). */
  losses(): LossModule[] {
    return [
      this.pixelLoss,
      ...(this.perceptualLoss ? [this.perceptualLoss] : []),
      ...(this.transferalLoss ? [this.transferalLoss] : []),
      ...(this.adversarial ? [this.adversarial.module] : []),
    ];
  }

  /** Extractor, transformer and generator on a batch (see the class doc). */
  forward(batch: ImageBatch, training: boolean): TTSRForward {
    const extract = (x: tf.Tensor) => this.extractor.apply(toUnit(x), { training }) as tf.Tensor[];
    const [lqLevel3] = extract(batch.img_lq);
    const [refLqLevel3] = extract(batch.ref_lq);
    const refs = extract(batch.ref_img);
    const { softAttention, textures } = searchTransformer(lqLevel3, refLqLevel3, refs);
    const pred = this.generator.apply([batch.img, softAttention, ...textures], {
      training,
    }) as tf.Tensor;
    return { pred, softAttention, textures };
  }

  /** The model's output for a batch: N×4h×4w×3 in [−1, 1]. */
  predict(batch: ImageBatch): tf.Tensor4D {
    return tf.tidy(() => this.forward(batch, false).pred as tf.Tensor4D);
  }

  private get pastPixelInit(): boolean {
    return this.iteration >= this.cfg.train_cfg.pixel_init;
  }

  /** Whether the generator phase runs at this iteration (SRGAN's `train_cfg`). */
  private runsGenerator(): boolean {
    const { disc_steps, disc_init_steps } = this.cfg.train_cfg;
    return (
      this.adversarial === null ||
      (this.iteration % disc_steps === 0 && this.iteration >= disc_init_steps)
    );
  }

  private readonly disc = (x: tf.Tensor): tf.Tensor =>
    (this.discriminator as tf.LayersModel).apply(x, { training: true }) as tf.Tensor;

  /** The generator phase's losses from a forward pass (see the class doc). */
  generatorLosses(batch: ImageBatch, { pred, softAttention, textures }: TTSRForward): LossDict {
    const gt = batch.gt_img;
    const losses: LossDict = { loss_pix: forwardOf(this.pixelLoss)(pred, gt) as tf.Tensor };
    if (!this.pastPixelInit) return losses;
    if (this.perceptualLoss) {
      Object.assign(
        losses,
        featureLossTerms(this.perceptualLoss, pred, gt, {
          percep: 'loss_perceptual',
          style: 'loss_style',
        }),
      );
    }
    if (this.transferalLoss) {
      const srTextures = applyWithFrozenWeights(this.extractor, toUnit(pred));
      losses.loss_transferal = forwardOf(this.transferalLoss)(
        srTextures,
        softAttention,
        textures,
      ) as tf.Tensor;
    }
    if (this.adversarial) losses.loss_gan = this.adversarial.generator(this.disc, gt, pred);
    return losses;
  }

  private variables(net: tf.LayersModel | null): tf.Variable[] {
    return net ? net.trainableWeights.map((w) => w.read() as tf.Variable) : [];
  }

  private timed<T>(phase: string, fn: () => T): T {
    return this.timer ? this.timer.time(phase, fn) : fn();
  }

  /** One training step; returns the phases' `log_vars` (each phase's total as `loss_<phase>`). */
  async trainStep(batch: ImageBatch): Promise<LogVars> {
    const buffers = this.losses().flatMap((m) => m.buffers());
    const nets = [this.generator, this.extractor, this.discriminator];
    const snapshot = await takeSnapshot(
      [...nets.flatMap((n) => this.variables(n)), ...buffers],
      Object.values(this.optimizers),
    );
    try {
      const log: LogVars = {};
      const rename = (phase: string, phaseLog: LogVars) => {
        for (const [k, v] of Object.entries(phaseLog)) log[k === 'loss' ? `loss_${phase}` : k] = v;
      };
      let pred: tf.Tensor | null = null;
      try {
        if (this.runsGenerator()) {
          const optimizer = new PerNetworkOptimizer([
            [this.optimizers.generator, this.variables(this.generator)],
            [this.optimizers.extractor, this.variables(this.extractor)],
          ]);
          const gLog = this.timed('G step', () =>
            optimiseLosses(
              'TTSR',
              'generator',
              optimizer,
              [...this.variables(this.generator), ...this.variables(this.extractor)],
              () => {
                const out = this.forward(batch, true);
                pred = tf.keep(stopGradient(out.pred));
                return this.generatorLosses(batch, out);
              },
            ),
          );
          rename('generator', gLog);
        }
        if (this.adversarial && this.pastPixelInit) {
          const fake: tf.Tensor =
            pred ?? tf.tidy(() => stopGradient(this.forward(batch, true).pred));
          pred = fake;
          const adv = this.adversarial;
          const dLog = this.timed('D step', () =>
            optimiseLosses(
              'TTSR',
              'discriminator',
              this.optimizers.discriminator as tf.Optimizer,
              this.variables(this.discriminator),
              (): LossDict => {
                const { real, fake: f } = adv.discriminator(this.disc, batch.gt_img, fake);
                return f === null ? { loss_d: real } : { loss_d_real: real, loss_d_fake: f };
              },
            ),
          );
          rename('discriminator', dLog);
        }
      } finally {
        (pred as tf.Tensor | null)?.dispose();
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

  /** Frees the losses' state and the optimizers (not the networks, which the caller owns). */
  dispose(): void {
    for (const m of this.losses()) m.dispose();
    for (const opt of Object.values(this.optimizers)) opt.dispose();
  }
}
