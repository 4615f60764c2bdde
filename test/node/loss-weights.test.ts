/**
 * Network weights from the paths in a training config (`loadLossWeights`, called by `genloss
 * train` and `genloss check`): relative paths against the config's folder, the key path and the
 * file in every error, the dlib face weights from `@vladmandic/face-api`. The networks are the
 * small test ones of test/reference/perceptual/.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { checkConfig } from '../../src/cli/train.ts';
import type { CLIPLossComps } from '../../src/components/clip.ts';
import { ConfigError, WeightsError } from '../../src/core/errors.ts';
import type { LossModule } from '../../src/core/module.ts';
import type { NetworkLoss } from '../../src/losses/network-loss.ts';
import { clipTokenize } from '../../src/nets/clip.ts';
import { loadLossWeights } from '../../src/node/loss-weights.ts';
import { faceApiModelDir } from '../../src/node/weights.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';

let backend = 'wasm';
before(async () => {
  backend = await useTestBackend();
});

const fixtures = new URL('../reference/perceptual/', import.meta.url).pathname;

/** A temporary folder holding the named fixture files (so that configs can name them relatively). */
function folderWith(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-weights-'));
  for (const name of names) copyFileSync(join(fixtures, name), join(dir, name));
  return dir;
}

/** Writes `config` as `config.yaml` in `dir`; returns its path. */
function writeConfig(dir: string, config: unknown): string {
  const path = join(dir, 'config.yaml');
  writeFileSync(path, YAML.stringify(config));
  return path;
}

/** A ×2 `BaseEditModel` on 16×16 shapes with an L1 pixel loss and `perceptual_loss` (logged as `loss_perceptual`). */
function restorerConfig(perceptual: Record<string, unknown>, batchSize = 4) {
  return {
    model: {
      type: 'BaseEditModel',
      generator: { type: 'MSRResNet', mid_channels: 8, num_blocks: 1, upscale_factor: 2, seed: 1 },
      pixel_loss: { type: 'L1Loss' },
      perceptual_loss: perceptual,
      optimizers: { generator: { type: 'Adam', lr: 0.001 } },
    },
    data: {
      type: 'shapes',
      num_images: 12,
      size: 16,
      seed: 0,
      val_images: 4,
      degradation: { type: 'downsample', scale: 2 },
    },
    train: { iters: 1, batch_size: batchSize, seed: 0, num_samples: 4 },
  };
}

/** `PerceptualLoss` on VGG16 taps 4 and 9; the untrained output leaves [0, 1], so no range check. */
const perceptual = (pretrained: string) => ({
  type: 'PerceptualLoss',
  vgg_type: 'vgg16',
  pretrained,
  layer_weights: { '4': 1.0, '9': 1.0 },
  norm_img: false,
  input_range: 'any',
});

/** The network losses of a trainer (a `*Comps` by the loss it wraps) and whether each has a network. */
const networks = (modules: LossModule[]) =>
  modules
    .map((m) => ('loss' in m ? (m.loss as LossModule) : m))
    .filter((m): m is NetworkLoss<never, never> => 'hasNetwork' in m)
    .map((m) => [m.lossType, m.hasNetwork]);

test('genloss check: a restorer with PerceptualLoss reads pretrained relative to the config and trains a step', async () => {
  const dir = folderWith('vgg16_small.safetensors');
  const path = writeConfig(dir, restorerConfig(perceptual('vgg16_small.safetensors')));
  const before = tf.memory().numTensors;
  const log = await checkConfig(path, backend);
  assert.deepEqual(Object.keys(log), [
    'loss_generator',
    'loss_pix',
    'loss_perceptual',
    'loss_style',
  ]);
  assert.ok(
    log.loss_perceptual > 0 && Number.isFinite(log.loss_perceptual),
    `${log.loss_perceptual}`,
  );
  assert.equal(tf.memory().numTensors, before, 'the weights are freed with the trainer');
});

test('genloss check: LPIPS as perceptual_loss reads pretrained (VGG16) and model_path (heads)', async () => {
  const dir = folderWith('vgg16_small.safetensors', 'lpips_heads_small.safetensors');
  const lpips = {
    type: 'LPIPS',
    lpips: true,
    pretrained: 'vgg16_small.safetensors',
    model_path: join(dir, 'lpips_heads_small.safetensors'),
    input_range: 'any',
  };
  const log = await checkConfig(writeConfig(dir, restorerConfig(lpips)), backend);
  assert.ok(log.loss_perceptual > 0 && Number.isFinite(log.loss_perceptual), JSON.stringify(log));
});

test("genloss check: FaceIdLoss with the default facenet reads face-api's dlib net and trains a step", async () => {
  const faceId = { type: 'FaceIdLoss', input_range: 'any' };
  const log = await checkConfig(writeConfig(folderWith(), restorerConfig(faceId, 1)), backend);
  assert.ok(log.loss_perceptual > 0 && Number.isFinite(log.loss_perceptual), JSON.stringify(log));
});

test('loadLossWeights: the inpaintor keys name their files; a loss with a network is skipped', async () => {
  const dir = folderWith('lightcnn_small.safetensors', 'arcface_small.safetensors');
  const config = {
    model: {
      type: 'OneStageInpaintor',
      generator: {
        type: 'MSRResNet',
        in_channels: 4,
        mid_channels: 8,
        num_blocks: 1,
        upscale_factor: 1,
      },
      discriminator: null,
      loss_l1_hole: { type: 'L1Loss' },
      loss_composed_percep: {
        type: 'LightCNNFeatureLoss',
        pretrained: 'lightcnn_small.safetensors',
      },
      loss_out_percep: {
        type: 'FaceIdLoss',
        facenet: { type: 'ArcFace', ir_se50_weights: 'arcface_small.safetensors' },
      },
      optimizers: { generator: { type: 'Adam' } },
    },
    data: {
      type: 'shapes',
      num_images: 8,
      size: 16,
      seed: 0,
      val_images: 2,
      masks: { type: 'boxes' },
    },
    train: { iters: 1, batch_size: 2, seed: 0, num_samples: 2 },
  };
  const before = tf.memory().numTensors;
  const trainer = new Trainer(config, shapesDataset(8, 16, 0));
  try {
    assert.deepEqual(networks(trainer.lossModules()), [
      ['LightCNNFeatureLoss', false],
      ['FaceIdLoss', false],
    ]);
    const loaded = await loadLossWeights(trainer.lossModules(), { config, configDir: dir });
    assert.deepEqual(loaded, [
      {
        key: 'model.loss_composed_percep.pretrained',
        file: join(dir, 'lightcnn_small.safetensors'),
      },
      {
        key: 'model.loss_out_percep.facenet.ir_se50_weights',
        file: join(dir, 'arcface_small.safetensors'),
      },
    ]);
    assert.deepEqual(networks(trainer.lossModules()), [
      ['LightCNNFeatureLoss', true],
      ['FaceIdLoss', true],
    ]);
    assert.deepEqual(await loadLossWeights(trainer.lossModules(), { config, configDir: dir }), []);
  } finally {
    trainer.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'the loaded networks are freed with the trainer');
});

test("loadLossWeights: a GAN's FaceIdLossComps gets face-api's dlib net, CLIPLossComps clip_model.weights", async () => {
  const dir = folderWith('clip_small.safetensors');
  const config = {
    model: {
      generator: { type: 'DCGANGenerator', noise_size: 8, out_size: 8, base_channels: 8 },
      discriminator: { type: 'DCGANDiscriminator', in_size: 8, base_channels: 4 },
      gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
      gen_auxiliary_loss: [
        { type: 'FaceIdLossComps', data_info: { pred: 'fake_imgs', gt: 'fake_imgs' } },
        {
          type: 'CLIPLossComps',
          data_info: { image: 'fake_imgs', text: 'descriptions' },
          clip_model: {
            in_size: 8,
            pool_size: 8,
            vision_heads: 2,
            text_heads: 2,
            weights: 'clip_small.safetensors',
          },
        },
      ],
      optimizers: { generator: { type: 'Adam' }, discriminator: { type: 'Adam' } },
    },
    data: { type: 'shapes', num_images: 8, size: 8, seed: 0 },
    train: { iters: 1, batch_size: 2, seed: 0, num_samples: 2 },
  };
  const before = tf.memory().numTensors;
  const trainer = new Trainer(config, shapesDataset(8, 8, 0));
  try {
    const loaded = await loadLossWeights(trainer.lossModules(), { config, configDir: dir });
    assert.deepEqual(loaded, [
      { key: 'model.gen_auxiliary_loss[0].facenet', file: faceApiModelDir() },
      {
        key: 'model.gen_auxiliary_loss[1].clip_model.weights',
        file: join(dir, 'clip_small.safetensors'),
      },
    ]);
    assert.deepEqual(networks(trainer.lossModules()), [
      ['FaceIdLoss', true],
      ['CLIPLoss', true],
    ]);
  } finally {
    trainer.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'the loaded networks are freed with the trainer');
});

test('genloss check: a weights file that is missing, not safetensors, of the wrong network, or a torchvision:// URL is a WeightsError naming the key and the file', async () => {
  const dir = folderWith('vgg16_small.safetensors', 'lpips_heads_small.safetensors');
  writeFileSync(join(dir, 'garbage.safetensors'), new Uint8Array(64).fill(0xab));
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      perceptual('missing.safetensors'),
      /^model\.perceptual_loss\.pretrained: no such file .*missing\.safetensors \(missing\.safetensors relative to the config's folder .*\); it should hold torchvision's vgg16 as a safetensors file$/,
    ],
    [
      perceptual('garbage.safetensors'),
      /^model\.perceptual_loss\.pretrained: .*garbage\.safetensors: not a valid safetensors file: /,
    ],
    [
      perceptual('lpips_heads_small.safetensors'),
      /^model\.perceptual_loss\.pretrained: VGGFeatures\(vgg16\): .*lpips_heads_small\.safetensors has no weight 'features\.0\.weight'/,
    ],
    [
      perceptual('torchvision://vgg16'),
      /^model\.perceptual_loss\.pretrained is torchvision:\/\/vgg16, a file MMagic downloads; genloss downloads nothing: export torchvision's vgg16 to a safetensors file with the one-line command in docs\/weights\.md and set model\.perceptual_loss\.pretrained to its path$/,
    ],
    [
      { type: 'LPIPS', lpips: true, pretrained: 'vgg16_small.safetensors' },
      /^model\.perceptual_loss\.model_path is not set: give the path of lpips's weights\/v0\.1\/vgg\.pth as a safetensors file/,
    ],
    [
      {
        type: 'LPIPS',
        lpips: true,
        pretrained: 'vgg16_small.safetensors',
        model_path: 'vgg16_small.safetensors',
      },
      /^model\.perceptual_loss\.pretrained and model\.perceptual_loss\.model_path: LPIPS: .*vgg16_small\.safetensors has no weight 'lin0\.model\.1\.weight'/,
    ],
  ];
  for (const [loss, message] of cases) {
    const path = writeConfig(dir, restorerConfig(loss));
    const before = tf.memory().numTensors;
    await assert.rejects(
      checkConfig(path, backend),
      (e: Error) => e instanceof WeightsError && message.test(e.message),
    );
    assert.equal(tf.memory().numTensors, before, `nothing leaks: ${loss.pretrained}`);
  }
});

test('genloss check: a GAN refuses PerceptualLoss as an auxiliary loss and names the keys that take it', async () => {
  const dir = folderWith();
  const path = writeConfig(dir, {
    model: {
      generator: { type: 'DCGANGenerator', noise_size: 8, out_size: 8, base_channels: 8 },
      discriminator: { type: 'DCGANDiscriminator', in_size: 8, base_channels: 4 },
      gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
      gen_auxiliary_loss: perceptual('vgg16_small.safetensors'),
      optimizers: { generator: { type: 'Adam' }, discriminator: { type: 'Adam' } },
    },
    data: { type: 'shapes', num_images: 8, size: 8, seed: 0 },
    train: { iters: 1, batch_size: 2, seed: 0, num_samples: 2 },
  });
  await assert.rejects(
    checkConfig(path, backend),
    (e: Error) =>
      e instanceof ConfigError &&
      /gen_auxiliary_loss 'PerceptualLoss' is not a data_info component .*a restorer's perceptual_loss or an inpaintor's loss_composed_percep\/loss_out_percep/.test(
        e.message,
      ),
  );
});

test('configs/clip-guided.yaml: the text prompt reaches CLIPLossComps as CLIP token ids in the outputs key text, and a step trains', async () => {
  const shipped = YAML.parse(
    readFileSync(new URL('../../configs/clip-guided.yaml', import.meta.url), 'utf8'),
  );
  const config = {
    ...shipped,
    model: {
      ...shipped.model,
      generator: { ...shipped.model.generator, base_channels: 4 },
      discriminator: { ...shipped.model.discriminator, base_channels: 4 },
    },
    data: { ...shipped.data, num_images: 8 },
    train: { ...shipped.train, batch_size: 2, num_samples: 2, num_metric_images: 0 },
  };
  const trainer = new Trainer(config, shapesDataset(8, 32, 0));
  const seen: number[][] = [];
  try {
    const comps = trainer.lossModules().find((m) => m.lossType === 'CLIPLossComps') as
      | CLIPLossComps
      | undefined;
    assert.ok(comps, 'the CLIP component is built');
    // A stand-in for CLIP's logits (the real network is 600 MB): it records the text it gets.
    comps.setModel((image, text) => {
      seen.push(Array.from(text.dataSync()));
      return tf.mul(tf.mean(image), 100).reshape([1, 1]);
    });
    const log = await trainer.trainStep();
    assert.ok(Number.isFinite(log.clip_loss), `clip_loss logged: ${JSON.stringify(log)}`);
  } finally {
    trainer.dispose();
  }
  const want = await clipTokenize(shipped.model.text_prompt);
  assert.deepEqual(seen[0], Array.from(want.dataSync()));
  want.dispose();
});
