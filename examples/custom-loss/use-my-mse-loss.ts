import * as tf from '@tensorflow/tfjs';
import { LOSSES, parseConfig } from '../../src/index.ts';
import type { MyMSELoss } from './my-mse-loss.ts';
import './my-mse-loss.ts'; // registers MyMSELoss

const pred = tf.fill([1, 4, 4, 3], 0.5);
const target = tf.zeros([1, 4, 4, 3]);

// From a config object, as any built-in loss...
const fromObject = LOSSES.build({ type: 'MyMSELoss', loss_weight: 2.0 }); // typed: MyMSELoss
console.log(fromObject.forward(pred, target).dataSync()[0]); // 2 · 0.25 = 0.5

// ...or from YAML, with the same validation and error messages.
const cfg = parseConfig('type: MyMSELoss\nreduction: sum\n', 'yaml') as { type: string };
console.log((LOSSES.build(cfg) as MyMSELoss).forward(pred, target).dataSync()[0]); // 48 · 0.25 = 12
try {
  LOSSES.build({ type: 'MyMSELoss', reduction: 'avg' });
} catch (e) {
  console.log((e as Error).message); // MyMSELoss: option 'reduction' must be one of 'none'|'mean'|'sum', got 'avg'
}
