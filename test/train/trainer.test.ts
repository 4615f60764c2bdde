/**
 * Trainer memory on error paths: a failing step (here a dataset whose images do not fit the
 * DCGAN discriminator) leaves tf.memory().numTensors where it was, before and after successful
 * steps, and dispose() then frees everything the trainer made.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { type ImageDataset, shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';

/** A small DCGAN on 8×8 images: hinge loss, R1 every step, path length every 2nd. */
const config = {
  model: {
    generator: { type: 'DCGANGenerator', noise_size: 8, out_size: 8, base_channels: 8, seed: 1 },
    discriminator: { type: 'DCGANDiscriminator', in_size: 8, base_channels: 4, seed: 2 },
    gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
    disc_auxiliary_loss: [
      {
        type: 'R1GradientPenaltyComps',
        loss_weight: 2,
        data_info: { discriminator: 'disc', real_data: 'real_imgs' },
      },
    ],
    gen_auxiliary_loss: [
      {
        type: 'GeneratorPathRegularizerComps',
        interval: 2,
        data_info: { generator: 'gen', num_batches: 'batch_size' },
      },
    ],
    optimizers: {
      generator: { type: 'Adam', lr: 0.001, betas: [0, 0.99] },
      discriminator: { type: 'Adam', lr: 0.001, betas: [0, 0.99] },
    },
  },
  data: { type: 'shapes', num_images: 16, size: 8, seed: 0 },
  train: { iters: 1, batch_size: 4, seed: 3, num_samples: 4 },
};

/** 8×8 shapes until `broken` is set, then 16×16 ones, which the discriminator rejects. */
function breakableDataset(): ImageDataset & { broken: boolean } {
  const good = shapesDataset(16, 8, 0);
  const bad = shapesDataset(16, 16, 0);
  return {
    broken: false,
    name: 'breakable shapes',
    size: 16,
    imageShape: [8, 8, 3],
    batch(indices) {
      return (this.broken ? bad : good).batch(indices);
    },
  };
}

describe('Trainer on error paths', () => {
  before(async () => {
    await useTestBackend();
  });

  const incompatible = /Input 0 is incompatible with layer/;

  test('100 failing first steps leave tf.memory().numTensors flat; dispose() frees everything', async () => {
    const start = tf.memory().numTensors;
    const data = breakableDataset();
    data.broken = true;
    const trainer = new Trainer(config, data);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await assert.rejects(trainer.trainStep(), incompatible);
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by 100 failed steps');
    assert.equal(trainer.step, 0);
    trainer.dispose();
    assert.equal(tf.memory().numTensors, start, 'tensors left after dispose()');
  });

  test('100 failing steps after successful ones leave tf.memory().numTensors flat; dispose() frees everything', async () => {
    const start = tf.memory().numTensors;
    const data = breakableDataset();
    const trainer = new Trainer(config, data);
    await trainer.trainStep();
    await trainer.trainStep();
    data.broken = true;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await assert.rejects(trainer.trainStep(), incompatible);
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by 100 failed steps');
    data.broken = false;
    const log = await trainer.trainStep();
    assert.ok(Number.isFinite(log.loss));
    assert.equal(trainer.step, 3);
    trainer.dispose();
    assert.equal(tf.memory().numTensors, start, 'tensors left after dispose()');
  });
});
