import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { checkConfig } from '../../src/cli/train.ts';
import { WeightsError } from '../../src/core/errors.ts';
import { chooseBackend } from '../../src/index.ts';
import { LOSS_ROLES } from '../../src/models/loss-roles.ts';
import { loadTrainConfig } from '../../src/node/train-config.ts';
import { MODEL_KINDS } from '../../src/train/config.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { assertLogVars } from '../helpers/tensors.ts';

// The shipped configs run as a user runs them: on the default backend (wasm on Node), which trains
// these 32×32 convnets in seconds where the reference cpu backend takes minutes.
let backend = 'wasm';
before(async () => {
  backend = await chooseBackend();
});

const shipped = [
  ...readdirSync(new URL('../../configs/', import.meta.url))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `configs/${f}`),
  'examples/custom-loss/custom-gan.yaml',
];

/**
 * The log of each shipped config's first step (`genloss check`: the first step `genloss train` runs, with the config's batch size): every network, data set and
 * latent is seeded, so these are the numbers that step gives — printed once on wasm, and equal on
 * cpu within 1e-5 relative. They change, and must be reprinted, when a config, a network
 * architecture, the shapes data set, the seeding or a loss changes. The tolerance, 1e-4
 * relative, is ten times the measured cpu/wasm spread (float32 sums in other orders, amplified by
 * the first Adam step before the generator phase).
 */
const FIRST_STEP: Record<string, Record<string, number>> = {
  'configs/demo.yaml': {
    loss: 2.434042453765869,
    loss_disc_fake: 0.8377124071121216,
    loss_disc_real: 1.5938149690628052,
    loss_r1_gp: 0.0020629921928048134,
    loss_disc_shift: 0.00045202189357951283,
    loss_disc_fake_g: 0.3053024411201477,
  },
  'configs/stylegan2-lazy.yaml': {
    loss: 4.605384826660156,
    loss_disc_fake: 0.7642626166343689,
    loss_disc_real: 0.7601552605628967,
    loss_r1_gp: 3.0809669494628906,
    loss_gen: 0.760448157787323,
    loss_path_regular: 5.1498541831970215,
  },
  'configs/wgan-gp.yaml': {
    loss: 0.20659253001213074,
    loss_disc_fake: 0.12038703262805939,
    loss_disc_real: -0.19204474985599518,
    loss_gp: 0.2781505286693573,
    loss_disc_shift: 9.97153329080902e-5,
  },
  'configs/deblur.yaml': {
    loss_generator: 0.1565246731042862,
    loss_pix: 0.03236092999577522,
    loss_gradient: 0.12416373938322067,
  },
  'configs/denoise.yaml': {
    loss_generator: 0.07979337126016617,
    loss_pix: 0.07979337126016617,
  },
  'configs/esrgan-x4.yaml': {
    loss_generator: 0.05613326281309128,
    loss_pix: 0.052504558116197586,
    loss_gan: 0.0036287035327404737,
    loss_discriminator: 0.6710261106491089,
    loss_d_real: 0.33619916439056396,
    loss_d_fake: 0.33482691645622253,
  },
  'configs/inpainting.yaml': {
    loss_discriminator: 11.651384353637695,
    real_loss: 1.3332064151763916,
    fake_loss: 0.6594343185424805,
    loss_disc_shift: 0.0011061466066166759,
    loss_gp: 9.657637596130371,
    loss_generator: 1.7604552507400513,
    loss_g_fake: -0.0005843113758601248,
    loss_l1_hole: 0.8604273796081543,
    loss_l1_valid: 0.8782878518104553,
    loss_tv: 0.022324329242110252,
  },
  'configs/matting.yaml': {
    loss_generator: 0.3393978476524353,
    loss_alpha: 0.225439190864563,
    loss_comp: 0.11395866423845291,
  },
  'configs/sr-x2-multiscale.yaml': {
    loss_generator: 0.14094306528568268,
    loss_pix: 0.13593026995658875,
    loss_gan: 0.005004641599953175,
    loss_feature_matching: 8.146933396346867e-6,
    loss_discriminator: 1.0009806156158447,
    loss_d_real: 1.0009796619415283,
    loss_d_fake: 9.770503766048932e-7,
  },
  'configs/sr-x4.yaml': {
    loss_generator: 0.05572015792131424,
    loss_pix: 0.052504558116197586,
    loss_gan: 0.0032156016677618027,
    loss_discriminator: 1.3735437393188477,
    loss_d_real: 0.6203538179397583,
    loss_d_fake: 0.7531898617744446,
  },
  'configs/ttsr-x4.yaml': {
    loss_generator: 0.8908960819244385,
    loss_pix: 0.8867689967155457,
    loss_transferal: 0.004127080552279949,
  },
  'examples/custom-loss/custom-gan.yaml': {
    loss: 2.1845786571502686,
    loss_disc_fake: 0.9102513194084167,
    loss_disc_real: 1.2717504501342773,
    loss_my_disc_shift: 0.00257676444016397,
    loss_disc_fake_g: -0.03882637247443199,
  },
};

/**
 * Shipped configs whose losses need weights genloss does not ship: `genloss check` refuses them
 * with a WeightsError naming the key (test/node/loss-weights.test.ts trains them with a stand-in).
 */
const USER_WEIGHTS: Record<string, RegExp> = {
  'configs/clip-guided.yaml': /model\.gen_auxiliary_loss\[0\]\.clip_model\.weights/,
};

for (const [file, key] of Object.entries(USER_WEIGHTS)) {
  test(`${file} needs weights the user gives: genloss check names the key and the file`, async () => {
    await assert.rejects(
      checkConfig(new URL(`../../${file}`, import.meta.url).pathname, backend),
      (e: unknown) => e instanceof WeightsError && key.test(e.message),
    );
  });
}

for (const file of shipped.filter((f) => !(f in USER_WEIGHTS))) {
  test(`${file} builds and trains one step, with the step's pinned log`, async () => {
    const log = await checkConfig(new URL(`../../${file}`, import.meta.url).pathname, backend);
    assert.ok(FIRST_STEP[file], `${file}: no pinned first step; print its log and add it`);
    assertLogVars(log, FIRST_STEP[file], 1e-4, file);
  });
}

/** The metrics each image-to-image kind reports, and the panels of one sample-grid row. */
const KIND_OUTPUTS: Record<string, { metrics: string[]; panels: number }> = {
  restoration: { metrics: ['metric/psnr', 'metric/ssim'], panels: 3 },
  inpainting: { metrics: ['metric/psnr', 'metric/ssim'], panels: 3 },
  reference_sr: { metrics: ['metric/psnr', 'metric/ssim'], panels: 4 },
  matting: {
    metrics: ['metric/sad', 'metric/mse', 'metric/gradient_error', 'metric/connectivity_error'],
    panels: 4,
  },
};

/**
 * The shipped configs of the image-to-image kinds train as configured — their networks, losses,
 * degradation, masks or matting data — on a few images: 2 steps, then the sample grid (one row
 * of panels per held-out image) and the metrics, all finite, leaving no tensor behind.
 */
for (const file of shipped) {
  const path = new URL(`../../${file}`, import.meta.url).pathname;
  const { raw, cfg } = await loadTrainConfig(path);
  if (cfg.model.type === 'GANWithCustomizedLoss') continue;
  const kind = MODEL_KINDS[cfg.model.type];
  test(`${file} (${kind}) trains 2 steps on 12 images, with finite losses, samples and metrics`, async () => {
    assert.equal(cfg.data.type, 'shapes', `${file}: a shipped config trains on the embedded data`);
    const { size, seed } = cfg.data as { size: number; seed: number };
    const small = raw as { data: Record<string, unknown>; train: Record<string, unknown> };
    const config = {
      ...small,
      data: { ...small.data, num_images: 12, val_images: 4 },
      train: { ...small.train, iters: 2, batch_size: 4, num_samples: 4 },
    };
    const before = tf.memory().numTensors;
    const trainer = new Trainer(config, shapesDataset(12, size, seed));
    try {
      for (let step = 0; step < 2; step++) {
        const log = await trainer.trainStep();
        for (const [key, value] of Object.entries(log)) {
          assert.ok(Number.isFinite(value), `${file} step ${step}: ${key} is ${value}`);
        }
      }
      const grid = trainer.samples();
      assert.deepEqual(grid.images.shape, [4 * KIND_OUTPUTS[kind].panels, size, size, 3]);
      grid.images.dispose();
      const metrics = await trainer.evaluate();
      assert.deepEqual(Object.keys(metrics), KIND_OUTPUTS[kind].metrics);
      for (const [key, value] of Object.entries(metrics)) {
        assert.ok(Number.isFinite(value), `${file}: ${key} is ${value}`);
      }
    } finally {
      trainer.dispose();
    }
    assert.equal(tf.memory().numTensors, before, `${file}: tensors left`);
  });
}

test("docs/config.md's loss-role table lists each role's losses as LOSS_ROLES does", () => {
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  const start = doc.indexOf('### Loss roles');
  const section = doc.slice(start, doc.indexOf('\n#', start + 1));
  const documented: Record<string, string[]> = {};
  for (const [, role, losses] of section.matchAll(/^\| `(\w+)` \|.*\| ((?:`\w+`(?:, )?)+) \|$/gm)) {
    documented[role] = [...losses.matchAll(/`(\w+)`/g)].map((m) => m[1]);
  }
  assert.deepEqual(documented, LOSS_ROLES);
});
