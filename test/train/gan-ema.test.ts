import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '../../src/register.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';

before(async () => {
  await useTestBackend();
});

const dataset = shapesDataset(16, 8, 0);

function config(emaConfig: unknown) {
  return {
    model: {
      generator: { type: 'DCGANGenerator', noise_size: 8, out_size: 8, base_channels: 8, seed: 1 },
      discriminator: { type: 'DCGANDiscriminator', in_size: 8, base_channels: 4, seed: 2 },
      gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
      optimizers: {
        generator: { type: 'Adam', lr: 0.01, betas: [0, 0.99] },
        discriminator: { type: 'Adam', lr: 0.01, betas: [0, 0.99] },
      },
      ema_config: emaConfig,
    },
    data: { type: 'shapes', num_images: 16, size: 8 },
    train: { iters: 4, batch_size: 4, num_samples: 4, num_metric_images: 0 },
  };
}

const values = (ts: tf.Tensor[]) => ts.map((t) => Array.from(t.dataSync()));

test("ema_config: mmengine's ExponentialMovingAverage of G, every interval steps; the samples use it", async () => {
  const trainer = new Trainer(config({ momentum: 0.25, interval: 2 }), dataset);
  try {
    const generator = trainer.task.nets.generator;
    const buffers = () => trainer.task.buffers();
    assert.equal(buffers().length, generator.weights.length, 'the average is the state');
    const initial = values(generator.getWeights());
    assert.deepEqual(values(buffers()), initial);
    await trainer.trainStep();
    assert.deepEqual(values(buffers()), initial, 'not at iteration 1 with interval 2');
    await trainer.trainStep();
    const want = initial.map((w, i) => {
      const now = generator.getWeights()[i].dataSync();
      return w.map((v, j) => Math.fround(v * 0.75 + now[j] * 0.25));
    });
    values(buffers()).forEach((got, i) => {
      got.forEach((v, j) => {
        assert.ok(Math.abs(v - want[i][j]) <= 1e-6 * (1 + Math.abs(want[i][j])));
      });
    });
    const grid = trainer.samples();
    const raw = generator.predict(tf.randomNormal([4, 8], 0, 1, 'float32', 3)) as tf.Tensor;
    assert.notDeepEqual(Array.from(grid.images.dataSync()), Array.from(raw.dataSync()));
    tf.dispose([grid.images, raw]);
  } finally {
    trainer.dispose();
  }
});

test('ema_config: the average is saved and restored with the state, so a resumed run goes on bit for bit', async () => {
  const straight = new Trainer(config({ momentum: 0.5 }), dataset);
  const resumed = new Trainer(config({ momentum: 0.5 }), dataset);
  try {
    for (let i = 0; i < 2; i++) await straight.trainStep();
    const state = await straight.getState();
    await resumed.setState(state);
    tf.dispose(Object.values(state.tensors));
    assert.ok(Object.keys(straight.stateLayout().tensors).some((k) => k.startsWith('buffer.')));
    await straight.trainStep();
    await resumed.trainStep();
    assert.deepEqual(values(resumed.task.buffers()), values(straight.task.buffers()));
    const [a, b] = [straight.samples(), resumed.samples()];
    assert.deepEqual(Array.from(a.images.dataSync()), Array.from(b.images.dataSync()));
    tf.dispose([a.images, b.images]);
  } finally {
    straight.dispose();
    resumed.dispose();
  }
});
