import * as tf from '@tensorflow/tfjs';
import { chooseBackend, LOSSES } from '../src/index.ts';

await chooseBackend(); // tfjs-node if installed, else wasm, else cpu
const loss = LOSSES.build({ type: 'CharbonnierLoss', loss_weight: 1.0, reduction: 'mean' });
const pred = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1); // NHWC
const target = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 2);
const mask = tf.ones([2, 32, 32, 1]); // weight: 1 channel, counted once per colour channel
const { value, grad } = tf.valueAndGrad((p: tf.Tensor) => loss.forward(p, target, mask))(pred);
console.log(
  `${loss.lossName()} = ${value.dataSync()[0].toFixed(6)}, |grad| = ${tf.norm(grad).dataSync()[0].toFixed(6)}`,
);
