import * as tf from '@tensorflow/tfjs';
import { DataInfoError } from '../../src/index.ts';
import { MyDiscShiftLoss } from './my-disc-shift.ts';

const pred = tf.tensor2d([[1], [-3]]);

// A plain call: the argument is given directly.
const plain = new MyDiscShiftLoss({ loss_weight: 0.1 });
console.log(plain.forward(pred)?.dataSync()[0]); // 0.1 · (1 + 9) / 2 = 0.5

// A call with the model's outputs: data_info says which output is `x`.
const wired = new MyDiscShiftLoss({ loss_weight: 0.1, data_info: { x: 'disc_pred_real' } });
const outputs = { disc_pred_real: pred, disc_pred_fake: tf.zeros([2, 1]), iteration: 0 };
console.log(wired.forward(outputs)?.dataSync()[0]); // 0.5
console.log(wired.forward({ outputs_dict: outputs })?.dataSync()[0]); // 0.5, MMagic's keyword form

// A missing output names itself and lists what the model did give.
try {
  wired.forward({ disc_pred_fake: pred });
} catch (e) {
  console.log(e instanceof DataInfoError, (e as Error).message);
  // true MyDiscShiftLoss: data_info argument 'x' needs output 'disc_pred_real', which the outputs dict does not have. Available: disc_pred_fake
}
