import type * as tf from '@tensorflow/tfjs';
import { falseOnlyOption } from '../core/options.ts';
import {
  type Discriminator,
  discShiftLoss,
  gradientPenaltyLoss,
  type LossScaler,
  type NormMode,
  normModeOption,
  oneSidedOption,
  r1GradientPenaltyLoss,
  r2GradientPenaltyLoss,
  targetOption,
} from '../losses/penalties.ts';
import { componentOptions, intervalOption, LossComponent } from './base.ts';

/**
 * `DiscShiftLossComps` (MMagic): `loss_weight · pred²`, **not reduced** (`parseLosses` takes its
 * mean). Argument: `pred` (MMagic's `disc_shift_loss(pred)`, e.g. `data_info: {pred:
 * 'disc_pred_real'}`), also accepted as `x` (an alias). Config: `loss_weight` 1.0, `data_info`,
 * `loss_name` `'loss_disc_shift'`.
 */
export class DiscShiftLossComps extends LossComponent<ReturnType<typeof discShiftCompsOptions>> {
  static override readonly lossType = 'DiscShiftLossComps';
  static override readonly options = discShiftCompsOptions();
  static override readonly argNames = ['pred'];
  static override readonly argAliases = { x: 'pred' };

  protected compute({ pred }: Record<string, unknown>): tf.Tensor {
    return discShiftLoss(pred as tf.Tensor, { weight: this.lossWeight });
  }
}

function discShiftCompsOptions() {
  return componentOptions({ loss_name: 'loss_disc_shift' }, {});
}

/**
 * `GradientPenaltyLossComps` (MMagic): `loss_weight · gradientPenaltyLoss(discriminator,
 * real_data, fake_data, {mask, norm_mode, alpha})`. Arguments: MMagic's `gradient_penalty_loss`
 * ones, `discriminator`, `real_data`, `fake_data`, `mask` (optional), then `alpha` (a genloss
 * addition: the optional interpolation draw, N×1×1×1); `norm_mode` is the config key. Config:
 * `loss_weight` 1.0, `norm_mode` `'pixel'`, `data_info`, `loss_name` `'loss_gp'`, and TF-GAN's
 * `target` 1 and `one_sided` false (genloss additions; `target: 0` is the zero-centred WGAN-GP).
 * Unlike MMagic, `norm_mode` is honoured in plain calls too.
 */
export class GradientPenaltyLossComps extends LossComponent<ReturnType<typeof gpCompsOptions>> {
  static override readonly lossType = 'GradientPenaltyLossComps';
  static override readonly options = gpCompsOptions();
  static override readonly argNames = ['discriminator', 'real_data', 'fake_data', 'mask', 'alpha'];

  protected compute(args: Record<string, unknown>): tf.Tensor {
    const options = {
      mask: (args.mask as tf.Tensor | null | undefined) ?? null,
      norm_mode: this.cfg.norm_mode as NormMode,
      alpha: (args.alpha as tf.Tensor | null | undefined) ?? null,
      target: this.cfg.target as number,
      one_sided: this.cfg.one_sided as boolean,
    };
    return this.scaled(() =>
      gradientPenaltyLoss(
        args.discriminator as Discriminator,
        args.real_data as tf.Tensor,
        args.fake_data as tf.Tensor,
        options,
        this.lossType,
      ),
    );
  }
}

function gpCompsOptions() {
  return componentOptions(
    { loss_name: 'loss_gp' },
    { norm_mode: normModeOption, target: targetOption, one_sided: oneSidedOption },
  );
}

/**
 * The shared body of the zero-centred penalty components (R1 on `real_data`, R2 on
 * `fake_data`): `loss_weight · penalty(discriminator, data, {mask, norm_mode, loss_scaler})`, the
 * data being the second of `argNames`.
 */
abstract class ZeroCentredPenaltyComps<
  O extends ReturnType<typeof r1CompsOptions> | ReturnType<typeof r2CompsOptions>,
> extends LossComponent<O> {
  protected abstract readonly penalty: typeof r1GradientPenaltyLoss;

  protected compute(args: Record<string, unknown>): tf.Tensor {
    const dataArg = (this.constructor as typeof LossComponent).argNames[1];
    const options = {
      mask: (args.mask as tf.Tensor | null | undefined) ?? null,
      norm_mode: this.cfg.norm_mode as NormMode,
      loss_scaler: (args.loss_scaler as LossScaler | null | undefined) ?? null,
    };
    return this.scaled(() =>
      this.penalty(
        args.discriminator as Discriminator,
        args[dataArg] as tf.Tensor,
        options,
        this.lossType,
      ),
    );
  }
}

/**
 * `R1GradientPenaltyComps` (MMagic): `loss_weight · r1GradientPenaltyLoss(discriminator,
 * real_data, {mask, norm_mode, loss_scaler})`, run every `interval` iterations (`null` on the
 * others; needs `data_info` and the outputs' `iteration`). Arguments: MMagic's
 * `r1_gradient_penalty_loss` ones, `discriminator`, `real_data`, `mask`, `loss_scaler` (all but
 * the first two optional); `norm_mode` and `use_apex_amp` are config keys. Config: `loss_weight`
 * 1.0, `norm_mode` `'pixel'`, `interval` 1, `data_info`, `use_apex_amp` (false only),
 * `loss_name` `'loss_r1_gp'`.
 */
export class R1GradientPenaltyComps extends ZeroCentredPenaltyComps<
  ReturnType<typeof r1CompsOptions>
> {
  static override readonly lossType = 'R1GradientPenaltyComps';
  static override readonly options = r1CompsOptions();
  static override readonly argNames = ['discriminator', 'real_data', 'mask', 'loss_scaler'];
  protected readonly penalty = r1GradientPenaltyLoss;
}

function r1CompsOptions() {
  return componentOptions(
    { loss_name: 'loss_r1_gp' },
    { norm_mode: normModeOption, interval: intervalOption, use_apex_amp: falseOnlyOption },
  );
}

/**
 * `R2GradientPenaltyComps` (genloss; Mescheder et al. 2018's R2): `loss_weight ·
 * r2GradientPenaltyLoss(discriminator, fake_data, {mask, norm_mode, loss_scaler})`, R1 on fake
 * data, run every `interval` iterations as `R1GradientPenaltyComps`. Arguments: `discriminator`,
 * `fake_data`, `mask`, `loss_scaler` (all but the first two optional). Config: `loss_weight` 1.0,
 * `norm_mode` `'pixel'`, `interval` 1, `data_info`, `loss_name` `'loss_r2_gp'`. R1 + R2 is this
 * component and `R1GradientPenaltyComps` both in `disc_auxiliary_loss`.
 */
export class R2GradientPenaltyComps extends ZeroCentredPenaltyComps<
  ReturnType<typeof r2CompsOptions>
> {
  static override readonly lossType = 'R2GradientPenaltyComps';
  static override readonly options = r2CompsOptions();
  static override readonly argNames = ['discriminator', 'fake_data', 'mask', 'loss_scaler'];
  protected readonly penalty = r2GradientPenaltyLoss;
}

function r2CompsOptions() {
  return componentOptions(
    { loss_name: 'loss_r2_gp' },
    { norm_mode: normModeOption, interval: intervalOption },
  );
}
