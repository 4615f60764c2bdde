import * as tf from '@tensorflow/tfjs';
import { componentOptions, LOSSES, LossComponent, weightedLoss } from '../../src/index.ts';

// The math: x², element-wise, scaled by a weight and reduced as asked (here: not reduced).
export const myDiscShift = weightedLoss((x: tf.Tensor) => tf.square(x), 'myDiscShift', 'none');

const options = componentOptions({ loss_name: 'loss_my_disc_shift' }, {});

/**
 * A data_info component: `data_info` maps the argument `x` to a model output, so a GAN model can
 * feed it; without data_info it is called with `x` directly. Returns `loss_weight · mean(x²)`.
 */
export class MyDiscShiftLoss extends LossComponent<typeof options> {
  static override readonly lossType = 'MyDiscShiftLoss';
  static override readonly options = options;
  static override readonly argNames = ['x'];

  protected compute({ x }: Record<string, unknown>): tf.Tensor {
    return myDiscShift(x as tf.Tensor, { weight: this.lossWeight, reduction: 'mean' });
  }
}

LOSSES.register(MyDiscShiftLoss);
