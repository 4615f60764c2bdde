import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { before, test } from 'node:test';
import { checkConfig } from '../../src/cli/train.ts';
import { chooseBackend } from '../../src/index.ts';
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
 * The log of each shipped config's first step (`genloss check`): every network, data set and
 * latent is seeded, so these are the numbers that step gives — printed once on wasm, and equal on
 * cpu within 1e-5 relative. They change, and must be reprinted, when a config, the DCGAN
 * architecture, the shapes data set, the seeding or a loss changes. The tolerance, 1e-4
 * relative, is ten times the measured cpu/wasm spread (float32 sums in other orders, amplified by
 * the first Adam step before the generator phase).
 */
const FIRST_STEP: Record<string, Record<string, number>> = {
  'configs/demo.yaml': {
    loss: 2.540771484375,
    loss_disc_fake: 1.1767834424972534,
    loss_disc_real: 1.360466480255127,
    loss_r1_gp: 0.003338161390274763,
    loss_disc_shift: 0.00018341974646318704,
    loss_disc_fake_g: 0.10804161429405212,
  },
  'configs/stylegan2-lazy.yaml': {
    loss: 55.37348175048828,
    loss_disc_fake: 0.7349600195884705,
    loss_disc_real: 0.5677266120910645,
    loss_r1_gp: 54.070796966552734,
    loss_gen: 0.7223572731018066,
    loss_path_regular: 3.6470274925231934,
  },
  'configs/wgan-gp.yaml': {
    loss: 0.08574463427066803,
    loss_disc_fake: 0.0807027816772461,
    loss_disc_real: -0.30901461839675903,
    loss_gp: 0.31381872296333313,
    loss_disc_shift: 0.00023774695000611246,
  },
  'examples/custom-loss/custom-gan.yaml': {
    loss: 2.618917465209961,
    loss_disc_fake: 1.2266556024551392,
    loss_disc_real: 1.3881531953811646,
    loss_my_disc_shift: 0.004108559340238571,
    loss_disc_fake_g: 0.006726905703544617,
  },
};

for (const file of shipped) {
  test(`${file} builds and trains one step, with the step's pinned log`, async () => {
    const log = await checkConfig(new URL(`../../${file}`, import.meta.url).pathname, backend);
    assert.ok(FIRST_STEP[file], `${file}: no pinned first step; print its log and add it`);
    assertLogVars(log, FIRST_STEP[file], 1e-4, file);
  });
}
