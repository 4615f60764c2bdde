/**
 * The Trainer over the image-to-image model kinds (src/train/image-to-image-task.ts): for a
 * restorer (SRGAN), an inpaintor and a matting model (DIM) on tiny networks, the state round trip,
 * a resume through an encoded checkpoint that goes on bit for bit as an uninterrupted run, the
 * sample grid (panels and their contents) and the metrics; a checkpoint of a model without a
 * discriminator, a GAN checkpoint refused by a restorer, and the ConfigErrors of data that does
 * not fit the networks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { CheckpointError, ConfigError } from '../../src/core/errors.ts';
import { configDigest, decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import type { ImageToImageTask } from '../../src/train/image-to-image-task.ts';
import { Trainer, type TrainState } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose } from '../helpers/tensors.ts';

before(useTestBackend);

const SIZE = 16;
const NUM_IMAGES = 12;
const VAL_IMAGES = 4;
const adam = { type: 'Adam', lr: 0.002, betas: [0.5, 0.999] };
const disc = { type: 'DCGANDiscriminator', in_size: SIZE, base_channels: 4, seed: 2 };
const train = { iters: 4, batch_size: 2, seed: 3, num_samples: 3 };
const data = {
  type: 'shapes',
  num_images: NUM_IMAGES,
  size: SIZE,
  seed: 0,
  val_images: VAL_IMAGES,
};

/** A tiny config of each kind: one MSRResNet block of 4 channels, 16×16 images, batch 2. */
const CONFIGS = {
  restoration: {
    model: {
      type: 'SRGAN',
      generator: { type: 'MSRResNet', mid_channels: 4, num_blocks: 1, upscale_factor: 2, seed: 1 },
      discriminator: disc,
      pixel_loss: { type: 'L1Loss' },
      gan_loss: { type: 'GANLoss', gan_type: 'vanilla', loss_weight: 0.01 },
      optimizers: { generator: adam, discriminator: adam },
    },
    data: { ...data, degradation: { type: 'downsample', scale: 2 } },
    train,
  },
  inpainting: {
    model: {
      type: 'OneStageInpaintor',
      generator: {
        type: 'MSRResNet',
        in_channels: 4,
        mid_channels: 4,
        num_blocks: 1,
        upscale_factor: 1,
        seed: 1,
      },
      discriminator: disc,
      loss_gan: { type: 'GANLoss', gan_type: 'hinge', loss_weight: 0.1 },
      loss_gp: { type: 'GradientPenaltyLoss', loss_weight: 10 },
      loss_disc_shift: { type: 'DiscShiftLoss', loss_weight: 0.001 },
      loss_l1_hole: { type: 'L1Loss', loss_weight: 6 },
      loss_l1_valid: { type: 'L1Loss' },
      optimizers: { generator: adam, discriminator: adam },
    },
    data: { ...data, masks: { type: 'mixed', max_size: 0.5, seed: 1 } },
    train,
  },
  matting: {
    model: {
      type: 'DIM',
      generator: {
        type: 'MSRResNet',
        in_channels: 4,
        out_channels: 1,
        mid_channels: 4,
        num_blocks: 1,
        upscale_factor: 1,
        seed: 1,
      },
      loss_alpha: { type: 'L1Loss' },
      loss_comp: { type: 'L1CompositionLoss' },
      optimizers: { generator: adam },
    },
    data: { ...data, trimap_width: 1 },
    train,
  },
} as const;
type Kind = keyof typeof CONFIGS;
// biome-ignore lint/suspicious/noExplicitAny: configs edited freely by the tests
type Config = any;
const KINDS = Object.keys(CONFIGS) as Kind[];

/** A config of `kind` with `edit` applied to a deep copy. */
function configOf(kind: Kind, edit: (cfg: Config) => void = () => {}): Config {
  const cfg: Config = structuredClone(CONFIGS[kind]);
  edit(cfg);
  return cfg;
}

const trainerOf = (cfg: Config) => new Trainer(cfg, shapesDataset(NUM_IMAGES, SIZE, 0));

/** The bytes of a tensor, to compare bit for bit. */
const bytesOf = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).slice().buffer);

/** Two states hold the same tensor names, each bit for bit the same, and the same meta. */
function assertSameState(a: TrainState, b: TrainState, what: string): void {
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort(), `${what}: names`);
  for (const [name, t] of Object.entries(a.tensors)) {
    assert.deepEqual(b.tensors[name].shape, t.shape, `${what}: ${name} shape`);
    assert.ok(bytesOf(b.tensors[name]).equals(bytesOf(t)), `${what}: ${name} bit for bit`);
  }
  assert.deepEqual(b.meta, a.meta, `${what}: meta`);
}

const disposeState = (s: TrainState) => tf.dispose(Object.values(s.tensors));

/** Steps a trainer `n` times; returns the logs. */
async function steps(trainer: Trainer, n: number) {
  const logs = [];
  for (let i = 0; i < n; i++) logs.push(await trainer.trainStep());
  return logs;
}

for (const kind of KINDS) {
  describe(`Trainer, ${kind} (${CONFIGS[kind].model.type})`, () => {
    test('getState/setState round trip into a new trainer', async () => {
      const a = trainerOf(configOf(kind));
      await steps(a, 2);
      const saved = await a.getState();
      const b = trainerOf(configOf(kind));
      await b.setState(saved);
      const again = await b.getState();
      assertSameState(saved, again, 'round trip');
      assert.equal(b.step, 2);
      assert.equal(b.model.iteration, 2);
      const names = Object.keys(saved.tensors);
      assert.ok(names.some((n) => n.startsWith('generator.')));
      assert.ok(names.some((n) => n.startsWith('optimizer.generator.')));
      assert.equal(
        names.some((n) => n.startsWith('discriminator.')),
        kind !== 'matting',
        'discriminator weights exactly when the model has one',
      );
      [saved, again].forEach(disposeState);
      a.dispose();
      b.dispose();
    });

    test('a resume through an encoded checkpoint is bit for bit an uninterrupted run', async () => {
      const straight = trainerOf(configOf(kind));
      const straightLogs = await steps(straight, 4);
      const want = await straight.getState();
      straight.dispose();

      const first = trainerOf(configOf(kind));
      await steps(first, 2);
      const digest = await configDigest(first.cfg);
      const half = await first.getState();
      const bytes = await encodeCheckpoint(half, digest);
      disposeState(half);
      first.dispose();

      const resumed = trainerOf(configOf(kind));
      const { state } = await decodeCheckpoint(bytes, 'test.ckpt', digest, resumed.stateLayout());
      await resumed.setState(state);
      disposeState(state);
      const resumedLogs = await steps(resumed, 2);
      assert.deepEqual(resumedLogs, straightLogs.slice(2), 'the same losses, to the last bit');
      const got = await resumed.getState();
      assertSameState(want, got, 'after 2 + 2 steps');
      [want, got].forEach(disposeState);
      resumed.dispose();
    });

    test('samples(): one row of panels per held-out example, in [−1, 1]', async () => {
      const trainer = trainerOf(configOf(kind));
      await steps(trainer, 1);
      const task = trainer.task as ImageToImageTask;
      const panels = { restoration: 3, inpainting: 3, matting: 4 }[kind];
      const n = Math.min(train.num_samples, VAL_IMAGES);
      const { images, columns } = trainer.samples();
      assert.deepEqual(images.shape, [n * panels, SIZE, SIZE, 3]);
      assert.equal(columns, panels * 2);
      const values = images.dataSync();
      assert.ok(values.every((v) => v >= -1 && v <= 1));
      // Example i's panels are rows i·panels …: the output panel is the model's prediction
      // (matting's: the trimap's value where the trimap is known).
      const batch = task.val.batch(Array.from({ length: n }, (_, i) => i));
      const predicted = task.model.predict(batch);
      const output =
        kind === 'matting'
          ? tf.where(tf.equal(batch.trimap, 0.5), predicted, batch.trimap)
          : predicted;
      tf.tidy(() => {
        const shown = tf.stack(tf.split(images, n), 0);
        const outputIndex = { restoration: 1, inpainting: 1, matting: 2 }[kind];
        const outputPanel = tf.gather(shown, outputIndex, 1) as tf.Tensor4D;
        const target = kind === 'matting' ? batch.alpha : batch.gt_img;
        const targetPanel = tf.gather(shown, panels - 1, 1) as tf.Tensor4D;
        const asShown = (t: tf.Tensor4D) => {
          const scaled =
            kind === 'inpainting'
              ? tf.clipByValue(t, -1, 1)
              : tf.sub(tf.mul(tf.clipByValue(t, 0, 1), 2), 1);
          return scaled.shape[3] === 1 ? tf.tile(scaled, [1, 1, 1, 3]) : scaled;
        };
        assertClose(outputPanel, asShown(output), { atol: 1e-6, rtol: 1e-6, what: 'output panel' });
        assertClose(targetPanel, asShown(target), { atol: 1e-6, rtol: 1e-6, what: 'target panel' });
        if (kind === 'restoration') {
          const input = tf.image.resizeNearestNeighbor(batch.img, [SIZE, SIZE]);
          assertClose(tf.gather(shown, 0, 1), asShown(input), { what: 'input panel' });
        }
        if (kind === 'inpainting') {
          const masked = tf.mul(batch.gt_img, tf.sub(1, batch.mask));
          assertClose(tf.gather(shown, 0, 1), masked, { what: 'masked input panel' });
        }
      });
      tf.dispose([images, predicted, output, ...Object.values(batch)]);
      trainer.dispose();
    });

    test('evaluate(): the kind metric keys, finite values', async () => {
      const trainer = trainerOf(configOf(kind));
      await steps(trainer, 1);
      const before = tf.memory().numTensors;
      const metrics = await trainer.evaluate();
      assert.equal(tf.memory().numTensors, before, 'evaluate() leaks no tensor');
      const keys =
        kind === 'matting'
          ? ['metric/sad', 'metric/mse', 'metric/gradient_error', 'metric/connectivity_error']
          : ['metric/psnr', 'metric/ssim'];
      assert.deepEqual(Object.keys(metrics), keys);
      for (const [key, value] of Object.entries(metrics)) {
        assert.ok(Number.isFinite(value), `${key} is ${value}`);
        if (kind === 'matting') assert.ok(value >= 0, `${key} is ${value}`);
      }
      if (kind !== 'matting') assert.ok(metrics['metric/ssim'] <= 1 && metrics['metric/psnr'] > 0);
      trainer.dispose();
    });
  });
}

describe('Trainer, image-to-image checkpoints and configs', () => {
  test('a model without a discriminator checkpoints no discriminator.* tensors nor optimizer', async () => {
    const cfg = configOf('restoration', (c) => {
      c.model.type = 'BaseEditModel';
      c.model.discriminator = null;
      delete c.model.gan_loss;
      c.model.optimizers = { generator: adam };
    });
    const trainer = trainerOf(cfg);
    await steps(trainer, 1);
    const state = await trainer.getState();
    const names = Object.keys(state.tensors);
    assert.deepEqual(
      names.filter((n) => n.includes('discriminator')),
      [],
      'no discriminator tensors',
    );
    assert.deepEqual(Object.keys(state.meta.optimizers), ['generator']);
    assert.deepEqual(Object.keys(trainer.stateLayout().optimizers), ['generator']);
    const digest = await configDigest(trainer.cfg);
    const decoded = await decodeCheckpoint(
      await encodeCheckpoint(state, digest),
      'test.ckpt',
      digest,
      trainer.stateLayout(),
    );
    assert.deepEqual(Object.keys(decoded.state.tensors).sort(), names.sort());
    [state, decoded.state].forEach(disposeState);
    trainer.dispose();
  });

  test("a GAN's checkpoint is refused by a restorer trainer with a CheckpointError, allocating nothing", async () => {
    const ganConfig = YAML.parse(
      readFileSync(new URL('../fixtures/tiny-train.yaml', import.meta.url), 'utf8'),
    );
    const gan = new Trainer(ganConfig, shapesDataset(16, 8, 0));
    await steps(gan, 1);
    const ganState = await gan.getState();
    const restorer = trainerOf(configOf('restoration'));
    const digest = await configDigest(restorer.cfg);
    // Signed with the restorer's own digest: the refusal comes from the contents, not the config.
    for (const [withDigest, why] of [
      [await configDigest(gan.cfg), /field 'config_digest'/],
      [digest, /field 'state\.rng' has unknown keys 'latent'|tensors do not fit this trainer/],
    ] as const) {
      const bytes = await encodeCheckpoint(ganState, withDigest);
      const count = tf.memory().numTensors;
      await assert.rejects(
        decodeCheckpoint(bytes, 'gan.ckpt', digest, restorer.stateLayout()),
        (e: Error) =>
          e instanceof CheckpointError && /^gan\.ckpt: /.test(e.message) && why.test(e.message),
      );
      assert.equal(tf.memory().numTensors, count);
    }
    disposeState(ganState);
    gan.dispose();
    restorer.dispose();
  });

  test('a generator whose output does not fit the target is a ConfigError naming the keys', () => {
    const count = tf.memory().numTensors;
    assert.throws(
      () =>
        trainerOf(
          configOf('restoration', (c) => {
            c.model.generator.upscale_factor = 4;
          }),
        ),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message ===
          "model.generator: maps the input [8, 8, 3] to [32, 32, 3], the target 'gt_img' is [16, 16, 3]; make upscale_factor match data.degradation.scale and out_channels 3",
    );
    assert.throws(
      () =>
        trainerOf(
          configOf('matting', (c) => {
            c.model.generator.out_channels = 3;
          }),
        ),
      (e: Error) =>
        e instanceof ConfigError && /the target 'alpha' is \[16, 16, 1\]/.test(e.message),
    );
    assert.equal(tf.memory().numTensors, count, 'refused configs leak no tensor');
  });

  test('data.val_images at or over the dataset size is a ConfigError', () => {
    for (const valImages of [NUM_IMAGES, NUM_IMAGES + 5]) {
      assert.throws(
        () =>
          trainerOf(
            configOf('inpainting', (c) => {
              c.data.val_images = valImages;
            }),
          ),
        (e: Error) =>
          e instanceof ConfigError &&
          e.message ===
            `data.val_images (${valImages}) must be below the number of images (${NUM_IMAGES}): the rest train`,
      );
    }
  });

  test('a restorer without data.degradation is a ConfigError naming it', () => {
    assert.throws(
      () =>
        trainerOf(
          configOf('restoration', (c) => {
            delete c.data.degradation;
          }),
        ),
      (e: Error) => e instanceof ConfigError && /^data\.degradation: SRGAN needs/.test(e.message),
    );
  });
});
