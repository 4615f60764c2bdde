import * as tf from '@tensorflow/tfjs';
import { chooseBackend, GANWithCustomizedLoss } from '../../src/index.ts';
import './my-disc-shift.ts';

await chooseBackend();
const G = tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [16], units: 8 * 8 * 3, activation: 'tanh' }),
    tf.layers.reshape({ targetShape: [8, 8, 3] }),
  ],
});
const D = tf.sequential({
  layers: [
    tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 8, kernelSize: 3, strides: 2 }),
    tf.layers.leakyReLU({ alpha: 0.2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 1 }),
  ],
});

const model = new GANWithCustomizedLoss({
  generator: G,
  discriminator: D,
  gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
  disc_auxiliary_loss: [
    // Your loss, beside the built-in ones: the model needs no code for it.
    { type: 'MyDiscShiftLoss', loss_weight: 0.01, data_info: { x: 'disc_pred_real' } },
    {
      type: 'R1GradientPenaltyComps',
      loss_weight: 2.0,
      interval: 2,
      data_info: { discriminator: 'disc', real_data: 'real_imgs' },
    },
  ],
  optimizers: {
    generator: { type: 'Adam', lr: 0.001, betas: [0.0, 0.99] },
    discriminator: { type: 'Adam', lr: 0.001, betas: [0.0, 0.99] },
  },
});

const real = tf.randomUniform([8, 8, 8, 3], -1, 1, 'float32', 0);
for (let step = 0; step < 3; step++) {
  const log = await model.trainStep({ real_imgs: real });
  console.log(step, Object.keys(log).join(' '), log.loss_my_disc_shift.toFixed(6));
}
// 0 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_r1_gp loss_disc_fake_g 0.00…
// 1 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_disc_fake_g 0.00…   (R1 every 2nd)
