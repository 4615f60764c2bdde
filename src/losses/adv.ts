import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { GenlossError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions } from '../core/options.ts';
import { checkOptions, checkSameShape, checkTensor, type Options } from '../core/validate.ts';
import { ganLoss } from './gan.ts';
import {
  callDiscriminator,
  checkFunction,
  type Discriminator,
  type GradientPenaltyDraws,
  gradientPenaltyLoss,
} from './penalties.ts';
import { relativisticTerms } from './relativistic.ts';

/** DeblurGANv2's adversarial loss types (MMagic `AdvLoss`). */
export const ADV_LOSS_TYPES = ['gan', 'lsgan', 'wgan-gp', 'ragan', 'ragan-ls'] as const;
/** A DeblurGANv2 adversarial loss type. */
export type AdvLossType = (typeof ADV_LOSS_TYPES)[number];

/** The number of past discriminator outputs the relativistic losses average (MMagic's ImagePool(50)). */
export const ADV_POOL_SIZE = 50;

/**
 * A first-in first-out pool of detached per-sample discriminator outputs (DeblurGANv2's
 * `ImagePool` as MMagic uses it: its sample size equals its size, so `mean()` is deterministic:
 * the mean over every stored element). The rows live in one non-trainable `tf.Variable`,
 * replaced while the pool grows and assigned in place once it is full.
 */
export class PredictionPool {
  private rows: tf.Variable | null = null;

  constructor(
    readonly size: number = ADV_POOL_SIZE,
    readonly owner = 'PredictionPool',
  ) {}

  /** How many rows are stored. */
  get length(): number {
    return this.rows ? this.rows.shape[0] : 0;
  }

  /** Appends the rows of `pred` (detached), dropping the oldest beyond `size`. */
  add(pred: tf.Tensor): void {
    const current = this.rows;
    if (current && !tf.util.arraysEqual(current.shape.slice(1), pred.shape.slice(1))) {
      throw new ShapeError(
        `${this.owner}: the discriminator's output per sample changed from [${current.shape.slice(1).join(', ')}] to [${pred.shape.slice(1).join(', ')}]; the pool of past outputs cannot mix them`,
      );
    }
    const next = tf.tidy(() => {
      const all = current ? tf.concat([current, stopGradient(pred)], 0) : stopGradient(pred);
      const keep = Math.min(this.size, all.shape[0]);
      return all.shape[0] === keep ? all : tf.slice(all, all.shape[0] - keep, keep);
    });
    if (current && tf.util.arraysEqual(current.shape, next.shape)) {
      current.assign(next);
      next.dispose();
    } else {
      current?.dispose();
      this.rows = tf.variable(next, false);
      next.dispose();
    }
  }

  /** The mean over every stored element (a scalar). */
  mean(): tf.Tensor {
    if (!this.rows) {
      throw new GenlossError(
        `${this.owner}: the pool of past discriminator outputs is empty: call the loss with model 'discriminator' before the generator`,
      );
    }
    return tf.mean(this.rows);
  }

  /** Frees the stored rows. */
  dispose(): void {
    this.rows?.dispose();
    this.rows = null;
  }
}

/**
 * `AdvLoss` (MMagic, DeblurGANv2's adversarial losses). `forward(net, fakeB, realB, model)`
 * computes the discriminator loss for `model = 'discriminator'` (the default) and the generator
 * loss otherwise; `fakeB` is detached in discriminator calls. With BCE = binary cross-entropy
 * with logits (mean), D = `net`:
 *
 * | loss_type | discriminator | generator |
 * | --- | --- | --- |
 * | gan | `½[BCE(D(fake), 0) + BCE(D(real), 1)]` | `BCE(D(fake), 1)` |
 * | lsgan | `½[mean|D(fake)| + mean|D(real) − 1|]` (L1, as MMagic) | `mean|D(fake) − 1|` |
 * | wgan-gp | `mean D(fake) − mean D(real) + 10·GP(D, real, fake)` (pixel norm) | `−mean D(fake)` |
 * | ragan | `½[BCE(D(real) − P_f, 1) + BCE(D(fake) − P_r, 0)]` | `½[BCE(D(real) − P_f, 0) + BCE(D(fake) − P_r, 1)]` |
 * | ragan-ls | `½[mean(D(real) − P_f − 1)² + mean(D(fake) − P_r + 1)²]` | `½[mean(D(real) − P_f + 1)² + mean(D(fake) − P_r − 1)²]` |
 *
 * `P_f`, `P_r` are the means of pools holding the last 50 per-sample D outputs on fakes and reals
 * (detached); each discriminator call adds its outputs before computing the loss, generator calls
 * only read them. A generator call before any discriminator call is a `GenlossError` (MMagic
 * crashes). Config: `loss_type` (required), plus genloss's `loss_weight` (1.0, multiplies every
 * call; MMagic has none) and `loss_name` (`'loss_adv'`). `dispose()` frees the pools.
 */
export class AdvLoss extends LossModule<ReturnType<typeof advOptions>> {
  static override readonly lossType = 'AdvLoss';
  static override readonly options = advOptions();

  private readonly fakePool = new PredictionPool(ADV_POOL_SIZE, 'AdvLoss: the fake pool');
  private readonly realPool = new PredictionPool(ADV_POOL_SIZE, 'AdvLoss: the real pool');

  /** How many past outputs each pool holds: `[fake, real]` (0 for non-relativistic types). */
  poolSizes(): [number, number] {
    return [this.fakePool.length, this.realPool.length];
  }

  /**
   * @param net the discriminator, `(x) => tf.Tensor`.
   * @param fakeB generated images, N×H×W×C.
   * @param realB real images, N×H×W×C.
   * @param model `'discriminator'` (default) for the discriminator loss; anything else for the
   *   generator loss.
   * @param draws `alpha` (N×1×1×1) for wgan-gp's penalty; drawn if absent.
   * @returns a scalar.
   */
  forward(
    net: Discriminator,
    fakeB: tf.Tensor,
    realB: tf.Tensor,
    model = 'discriminator',
    draws?: Options<GradientPenaltyDraws>,
  ): tf.Tensor {
    const owner = `AdvLoss(${this.cfg.loss_type})`;
    const { alpha = null } = checkOptions(
      owner,
      5,
      draws,
      'AdvLoss.forward(net, fakeB, realB, model, {alpha})',
    );
    checkFunction(owner, 'net', net);
    const fake = checkTensor(owner, 'fakeB', fakeB, 4);
    const real = checkTensor(owner, 'realB', realB, 4);
    checkSameShape(owner, ['realB', real], ['fakeB', fake]);
    const isDisc = model === 'discriminator';
    const D = (x: tf.Tensor) => callDiscriminator(owner, net, x, 'net');
    return this.scaled(() =>
      isDisc
        ? this.discriminatorLoss(D, fake, real, alpha, owner)
        : this.generatorLoss(D, fake, real),
    );
  }

  private discriminatorLoss(
    D: Discriminator,
    fakeB: tf.Tensor,
    realB: tf.Tensor,
    alpha: tf.Tensor | null,
    owner: string,
  ): tf.Tensor {
    const type = this.cfg.loss_type;
    const predFake = D(stopGradient(fakeB));
    if (type === 'ragan' || type === 'ragan-ls') this.fakePool.add(predFake);
    const predReal = D(realB);
    switch (type) {
      case 'gan':
      case 'lsgan':
        return half(this.criterion(predFake, false), this.criterion(predReal, true));
      case 'wgan-gp': {
        const gp = gradientPenaltyLoss(D, realB, fakeB, { alpha }, owner);
        return tf.add(tf.sub(tf.mean(predFake), tf.mean(predReal)), tf.mul(gp, 10));
      }
      case 'ragan':
      case 'ragan-ls': {
        this.realPool.add(predReal);
        return this.relativistic(predFake, predReal, true);
      }
    }
  }

  private generatorLoss(D: Discriminator, fakeB: tf.Tensor, realB: tf.Tensor): tf.Tensor {
    const type = this.cfg.loss_type;
    switch (type) {
      case 'gan':
      case 'lsgan':
        return this.criterion(D(fakeB), true);
      case 'wgan-gp':
        return tf.neg(tf.mean(D(fakeB)));
      case 'ragan':
      case 'ragan-ls': {
        // Read the pools first: before any discriminator call this fails without running D.
        const poolFake = this.fakePool.mean();
        const poolReal = this.realPool.mean();
        return this.relativistic(D(fakeB), D(realB), false, [poolFake, poolReal]);
      }
    }
  }

  /** DeblurGANv2's criterion: `GANLoss('vanilla')` for gan, `GANLoss('l1')` for lsgan. */
  private criterion(pred: tf.Tensor, targetIsReal: boolean): tf.Tensor {
    const gan_type = this.cfg.loss_type === 'lsgan' ? 'l1' : 'vanilla';
    return ganLoss(pred, targetIsReal, { gan_type }, `AdvLoss(${this.cfg.loss_type})`);
  }

  /**
   * The relativistic average terms (`relativisticTerms`, shared with `RelativisticGANLoss`, halved):
   * the discriminator pushes `D(real) − P_f` to "real" and `D(fake) − P_r` to "fake"; the generator
   * the other way round. ragan is the vanilla (BCE) form, ragan-ls the least-squares one (±1).
   */
  private relativistic(
    predFake: tf.Tensor,
    predReal: tf.Tensor,
    isDisc: boolean,
    [poolFake, poolReal] = [this.fakePool.mean(), this.realPool.mean()],
  ): tf.Tensor {
    const ganType = this.cfg.loss_type === 'ragan' ? 'vanilla' : 'lsgan';
    const { real, fake } = relativisticTerms(
      ganType,
      predReal,
      predFake,
      poolFake,
      poolReal,
      isDisc,
    );
    return half(real, fake);
  }

  /** Frees the pools. */
  override dispose(): void {
    this.fakePool.dispose();
    this.realPool.dispose();
  }
}

function half(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.mul(tf.add(a, b), 0.5);
}

function advOptions() {
  return lossOptions({ loss_name: 'loss_adv' }, { loss_type: z.enum(ADV_LOSS_TYPES) });
}
