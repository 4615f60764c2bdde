import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { fusedGanLoss } from '../backends/fused/index.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { choiceMessage, lossOptions } from '../core/options.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';
import { gaussianBlur } from '../ops/gaussian-blur.ts';

/** Every adversarial loss type genloss knows (the union of MMagic's two sets). */
export const GAN_TYPES = [
  'vanilla',
  'lsgan',
  'wgan',
  'wgan-logistic-ns',
  'hinge',
  'l1',
  'smgan',
  'wgan_softplus',
] as const;
/** An adversarial loss type. */
export type GanType = (typeof GAN_TYPES)[number];

/**
 * The types `GANLoss` accepts: MMagic's (no `wgan-logistic-ns`) plus BasicSR's `wgan_softplus`
 * (a genloss addition under BasicSR's name: the same numbers as `wgan-logistic-ns`).
 */
export const GAN_LOSS_TYPES = [
  'vanilla',
  'lsgan',
  'wgan',
  'hinge',
  'l1',
  'smgan',
  'wgan_softplus',
] as const;
/** The types MMagic's `GANLossComps` accepts (no `l1`, no `smgan`). */
export const GAN_LOSS_COMPS_TYPES = [
  'vanilla',
  'lsgan',
  'wgan',
  'wgan-logistic-ns',
  'hinge',
] as const;

/** Options of {@link ganLoss}. */
export interface GanLossOptions {
  /** The loss type (required). */
  gan_type: GanType;
  /** Discriminator (true) or generator (false, default) call. */
  is_disc?: boolean;
  /** Label of real samples. Default 1. */
  real_label_val?: number;
  /** Label of fake samples. Default 0. */
  fake_label_val?: number;
  /** smgan only (required there): N×H×W×1 (or ×C) soft mask; the input is resized to its H×W. */
  mask?: tf.Tensor | null;
}

/**
 * Binary cross-entropy with logits, element-wise: `t·softplus(−x) + (1 − t)·softplus(x)`, which
 * equals PyTorch's `max(x, 0) − x·t + log(1 + e^{−|x|})` and never overflows or cancels; its
 * gradient is `sigmoid(x) − t` everywhere, x = 0 included.
 */
export function bceWithLogits(x: tf.Tensor, target: number | tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.add(tf.mul(target, tf.softplus(tf.neg(x))), tf.mul(tf.sub(1, target), tf.softplus(x))),
  );
}

/**
 * Checks `gan_type` against the types `allowed` by a class (MMagic's `GANLoss` and `GANLossComps`
 * accept different sets): a `ConfigError` suggesting the closest allowed type, and naming the
 * class that has it when the type belongs to the other one.
 */
export function checkGanType(
  owner: string,
  ganType: unknown,
  allowed: readonly string[] = GAN_TYPES,
): GanType {
  if (typeof ganType === 'string' && allowed.includes(ganType)) return ganType as GanType;
  const elsewhere =
    typeof ganType === 'string' && (GAN_TYPES as readonly string[]).includes(ganType)
      ? ` ('${ganType}' is a type of ${ganType === 'wgan-logistic-ns' ? 'GANLossComps' : 'GANLoss'}.)`
      : '';
  throw new ConfigError(choiceMessage(owner, 'gan_type', ganType, allowed) + elsewhere);
}

/** `target_is_real` and `is_disc` must be booleans: MMagic's truthiness would take `'no'` as true. */
function checkBoolean(owner: string, arg: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new ConfigError(`${owner}: '${arg}' must be true or false, got ${describeValue(value)}`);
  }
  return value;
}

function checkMask(owner: string, mask: unknown, input: tf.Tensor): tf.Tensor4D {
  if (mask === null || mask === undefined) {
    throw new ShapeError(
      `${owner}: gan_type 'smgan' needs a 'mask' (N×H×W×1 soft mask), got ${describeValue(mask)}`,
    );
  }
  const m = checkTensor(owner, 'mask', mask, 4) as tf.Tensor4D;
  const shape = input.shape as number[];
  const compatible = (a: number, b: number) => a === b || a === 1 || b === 1;
  if (!compatible(m.shape[0], shape[0]) || !compatible(m.shape[3], shape[3])) {
    throw new ShapeError(
      `${owner}: 'mask' must broadcast against the input [${input.shape.join(', ')}] in N and C ` +
        `(each equal or 1), got ${describeValue(m)}`,
    );
  }
  return m;
}

/**
 * Adversarial loss of discriminator predictions (MMagic `GANLoss.forward` and
 * `GANLossComps.forward` without `loss_weight`). With `label = target_is_real ? real_label_val :
 * fake_label_val` and the mean over all elements:
 *
 * | gan_type | loss |
 * | --- | --- |
 * | vanilla | `mean BCEWithLogits(x, label)` |
 * | lsgan | `mean (x − label)²` |
 * | l1 | `mean |x − label|` |
 * | wgan | real: `−mean x`; fake: `mean x` (labels ignored) |
 * | wgan-logistic-ns, wgan_softplus (BasicSR's name) | real: `mean softplus(−x)`; fake: `mean softplus(x)` (labels ignored) |
 * | hinge | disc real: `mean relu(1 − x)`; disc fake: `mean relu(1 + x)`; generator: `−mean x` for either target |
 * | smgan | see below |
 *
 * smgan (AOT-GAN) needs a `mask`; an input whose H×W differs from the mask's is first resized to
 * it (bilinear, align corners). Disc real: `mean (x − real_label)²`; disc fake:
 * `mean (x − GaussianBlur()(mask))²` with the default 71×71, σ 10 blur, detached (fake_label_val
 * is ignored); generator: `mean(mse · mask / mean(mask))` with `mse = mean (x − label)²`, which
 * equals `mse` (the mask cancels) and is NaN for an all-zero mask — MMagic's numbers.
 *
 * On `cpu` and `wasm` every type but `l1` and `smgan` runs as one fused kernel for the value and
 * one for its gradient (`fusedGanLoss`, src/backends/fused/gan-losses.ts): the same numbers to
 * float32 rounding, gradients of every order.
 *
 * @param input discriminator predictions, any shape (N×H×W×C for smgan).
 * @param target_is_real whether the target is the real label.
 * @param options `gan_type` (required), `is_disc` (false), `real_label_val` (1),
 *   `fake_label_val` (0), `mask` (smgan).
 * @returns a scalar.
 */
export function ganLoss(
  input: tf.Tensor,
  target_is_real: boolean,
  options: Options<GanLossOptions>,
  owner = 'ganLoss',
): tf.Tensor {
  const {
    gan_type,
    is_disc = false,
    real_label_val = 1,
    fake_label_val = 0,
    mask = null,
  } = checkOptions(
    'ganLoss',
    3,
    options,
    'ganLoss(input, target_is_real, {gan_type, is_disc, real_label_val, fake_label_val, mask})',
  );
  const type = checkGanType(owner, gan_type);
  const x = checkTensor(owner, 'input', input, type === 'smgan' ? 4 : undefined);
  const real = checkBoolean(owner, 'target_is_real', target_is_real);
  checkBoolean(owner, 'is_disc', is_disc);
  const m = type === 'smgan' ? checkMask(owner, mask, x) : null;
  const label = real ? real_label_val : fake_label_val;
  // One fused kernel where it applies (src/backends/fused/gan-losses.ts), else the op chain.
  const fused = fusedGanLoss(type, x, { target_is_real: real, is_disc, label });
  if (fused !== null) return fused;
  return tf.tidy(() => {
    switch (type) {
      case 'vanilla':
        return tf.mean(bceWithLogits(x, label));
      case 'lsgan':
        return tf.mean(tf.square(tf.sub(x, label)));
      case 'l1':
        return tf.mean(tf.abs(tf.sub(x, label)));
      case 'wgan':
        return real ? tf.neg(tf.mean(x)) : tf.mean(x);
      case 'wgan-logistic-ns':
      case 'wgan_softplus':
        return tf.mean(tf.softplus(real ? tf.neg(x) : x));
      case 'hinge':
        if (!is_disc) return tf.neg(tf.mean(x));
        return tf.mean(tf.relu(real ? tf.sub(1, x) : tf.add(1, x)));
      case 'smgan':
        return smganLoss(x as tf.Tensor4D, m as tf.Tensor4D, real, is_disc, label, real_label_val);
    }
  });
}

function smganLoss(
  input: tf.Tensor4D,
  mask: tf.Tensor4D,
  real: boolean,
  isDisc: boolean,
  label: number,
  realLabel: number,
): tf.Tensor {
  const [h, w] = [mask.shape[1], mask.shape[2]];
  const x =
    input.shape[1] === h && input.shape[2] === w
      ? input
      : tf.image.resizeBilinear(input, [h, w], true);
  if (isDisc) {
    if (real) return tf.mean(tf.square(tf.sub(x, realLabel)));
    return tf.mean(tf.square(tf.sub(x, stopGradient(gaussianBlur(mask, {}, 'GANLoss(smgan)')))));
  }
  const mse = tf.mean(tf.square(tf.sub(x, label)));
  return tf.mean(tf.div(tf.mul(mse, mask), tf.mean(mask)));
}

/** The options of a `GANLossBase` class accepting `types`. */
export function ganOptions(types: readonly [GanType, ...GanType[]]) {
  return lossOptions(
    { loss_name: 'loss_gan' },
    {
      gan_type: z.enum(types),
      real_label_val: z.number().finite().default(1),
      fake_label_val: z.number().finite().default(0),
    },
  );
}

type GanOptionsSchema = ReturnType<typeof ganOptions>;

/**
 * The one implementation behind `GANLoss` and `GANLossComps`: {@link ganLoss}, multiplied by
 * `loss_weight` for generator calls only (`is_disc = false`), as MMagic.
 */
export abstract class GANLossBase extends LossModule<GanOptionsSchema> {
  /** The gan_types this class accepts. */
  static readonly ganTypes: readonly string[] = GAN_TYPES;

  constructor(cfg: z.input<GanOptionsSchema>) {
    const cls = new.target as unknown as { lossType: string; ganTypes: readonly string[] };
    const given = (cfg as { gan_type?: unknown } | null | undefined)?.gan_type;
    // Checked before the schema, which knows only this class's types, to name the other class.
    if (given !== undefined) checkGanType(cls.lossType, given, cls.ganTypes);
    super(cfg);
  }

  /** `ganLoss(...)`, times `loss_weight` unless `is_disc`. */
  protected weightedLoss(
    input: tf.Tensor,
    target_is_real: boolean,
    is_disc: boolean,
    mask: tf.Tensor | null,
  ): tf.Tensor {
    const { gan_type, real_label_val, fake_label_val } = this.cfg;
    const options = { gan_type, is_disc, real_label_val, fake_label_val, mask };
    const loss = () => ganLoss(input, target_is_real, options, this.lossType);
    return is_disc ? loss() : this.scaled(loss);
  }
}

/**
 * `GANLoss` (MMagic): adversarial loss of discriminator predictions, see {@link ganLoss}.
 * Config: `gan_type` (required: `vanilla|lsgan|wgan|hinge|l1|smgan`, and BasicSR's
 * `wgan_softplus`), `real_label_val` 1.0,
 * `fake_label_val` 0.0, `loss_weight` 1.0 — applied to generator calls only.
 */
export class GANLoss extends GANLossBase {
  static override readonly lossType = 'GANLoss';
  static override readonly options = ganOptions(GAN_LOSS_TYPES);
  static override readonly ganTypes: readonly string[] = GAN_LOSS_TYPES;

  /**
   * @param input discriminator predictions, any shape (N×H×W×C for smgan).
   * @param target_is_real whether the target is the real label.
   * @param is_disc discriminator call (no `loss_weight`). Default false.
   * @param mask smgan's N×H×W×1 mask (required there, ignored otherwise).
   * @returns a scalar.
   */
  forward(
    input: tf.Tensor,
    target_is_real: boolean,
    is_disc = false,
    mask: tf.Tensor | null = null,
  ): tf.Tensor {
    return this.weightedLoss(input, target_is_real, is_disc, mask);
  }
}

/**
 * `GANLossComps` (MMagic): the same loss as `GANLoss` over the types
 * `vanilla|lsgan|wgan|wgan-logistic-ns|hinge`, no mask. Like MMagic's, it takes no `data_info`:
 * its `forward(input, target_is_real, is_disc)` is called directly by the model
 * (mmagic/models/losses/loss_comps/gan_loss_comps.py). Config as `GANLoss` plus `loss_name`
 * (`'loss_gan'`).
 */
export class GANLossComps extends GANLossBase {
  static override readonly lossType = 'GANLossComps';
  static override readonly options = ganOptions(GAN_LOSS_COMPS_TYPES);
  static override readonly ganTypes: readonly string[] = GAN_LOSS_COMPS_TYPES;

  /**
   * @param input discriminator predictions, any shape.
   * @param target_is_real whether the target is the real label.
   * @param is_disc discriminator call (no `loss_weight`). Default false.
   * @returns a scalar.
   */
  forward(input: tf.Tensor, target_is_real: boolean, is_disc = false): tf.Tensor {
    return this.weightedLoss(input, target_is_real, is_disc, null);
  }
}
