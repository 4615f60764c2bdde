import * as tf from '@tensorflow/tfjs';
import {
  LOSSES,
  LossModule,
  lossOptions,
  maskedLoss,
  reductionOption,
  z,
} from '../../src/index.ts';

// 1. The math, as a plain element-wise function. maskedLoss adds weight, reduction, sample_wise.
export const myMseLoss = maskedLoss(
  (pred: tf.Tensor, target: tf.Tensor) => tf.squaredDifference(pred, target),
  'myMseLoss',
);

// 2. The options, declared once: types, defaults and allowed values validate every config.
const myMseOptions = lossOptions(
  { loss_name: 'loss_my_mse' },
  { reduction: reductionOption.default('mean'), sample_wise: z.boolean().default(false) },
);

// 3. A class that stores the hyper-parameters and delegates to the function.
export class MyMSELoss extends LossModule<typeof myMseOptions> {
  static override readonly lossType = 'MyMSELoss';
  static override readonly options = myMseOptions;

  /** `loss_weight · mean((pred − target)²)` over `weight`. pred, target: N×H×W×C. */
  forward(pred: tf.Tensor, target: tf.Tensor, weight?: tf.Tensor): tf.Tensor {
    const { reduction, sample_wise } = this.cfg;
    return tf.tidy(() =>
      tf.mul(myMseLoss(pred, target, { weight, reduction, sample_wise }), this.lossWeight),
    );
  }
}

// 4. One line registers it under its name, for configs.
LOSSES.register(MyMSELoss);

// 5. Optional: let TypeScript know the name, so LOSSES.build({type: 'MyMSELoss'}) is typed.
declare module '../../src/index.ts' {
  interface LossTypeMap {
    MyMSELoss: MyMSELoss;
  }
}
