import type * as tf from '@tensorflow/tfjs';
import { falseOnlyOption } from '../core/options.ts';
import {
  type Discriminator,
  discShiftLoss,
  gradientPenaltyLoss,
  type LossScaler,
  type NormMode,
  normModeOption,
  r1GradientPenaltyLoss,
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
 * `loss_weight` 1.0, `norm_mode` `'pixel'`, `data_info`, `loss_name` `'loss_gp'`. Unlike MMagic,
 * `norm_mode` is honoured in plain calls too.
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
  return componentOptions({ loss_name: 'loss_gp' }, { norm_mode: normModeOption });
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
export class R1GradientPenaltyComps extends LossComponent<ReturnType<typeof r1CompsOptions>> {
  static override readonly lossType = 'R1GradientPenaltyComps';
  static override readonly options = r1CompsOptions();
  static override readonly argNames = ['discriminator', 'real_data', 'mask', 'loss_scaler'];

  protected compute(args: Record<string, unknown>): tf.Tensor {
    const options = {
      mask: (args.mask as tf.Tensor | null | undefined) ?? null,
      norm_mode: this.cfg.norm_mode as NormMode,
      loss_scaler: (args.loss_scaler as LossScaler | null | undefined) ?? null,
    };
    return this.scaled(() =>
      r1GradientPenaltyLoss(
        args.discriminator as Discriminator,
        args.real_data as tf.Tensor,
        options,
        this.lossType,
      ),
    );
  }
}

function r1CompsOptions() {
  return componentOptions(
    { loss_name: 'loss_r1_gp' },
    { norm_mode: normModeOption, interval: intervalOption, use_apex_amp: falseOnlyOption },
  );
}
