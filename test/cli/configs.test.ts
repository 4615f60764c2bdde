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
 * The log of each shipped config's first step (`genloss check`: the first step `genloss train` runs, with the config's batch size): every network, data set and
 * latent is seeded, so these are the numbers that step gives — printed once on wasm, and equal on
 * cpu within 1e-5 relative. They change, and must be reprinted, when a config, the DCGAN
 * architecture, the shapes data set, the seeding or a loss changes. The tolerance, 1e-4
 * relative, is ten times the measured cpu/wasm spread (float32 sums in other orders, amplified by
 * the first Adam step before the generator phase).
 */
const FIRST_STEP: Record<string, Record<string, number>> = {
  'configs/demo.yaml': {
    loss: 2.62037992477417,
    loss_disc_fake: 1.133960247039795,
    loss_disc_real: 1.4827070236206055,
    loss_r1_gp: 0.0033689963165670633,
    loss_disc_shift: 0.00034355089883320034,
    loss_disc_fake_g: 0.13865526020526886,
  },
  'configs/stylegan2-lazy.yaml': {
    loss: 57.08324432373047,
    loss_disc_fake: 0.7591471076011658,
    loss_disc_real: 0.6094465851783752,
    loss_r1_gp: 55.71464920043945,
    loss_gen: 0.7548246383666992,
    loss_path_regular: 5.149855136871338,
  },
  'configs/wgan-gp.yaml': {
    loss: 0.20659253001213074,
    loss_disc_fake: 0.12038703262805939,
    loss_disc_real: -0.19204474985599518,
    loss_gp: 0.2781505286693573,
    loss_disc_shift: 9.97153329080902e-5,
  },
  'examples/custom-loss/custom-gan.yaml': {
    loss: 2.1845786571502686,
    loss_disc_fake: 0.9102513194084167,
    loss_disc_real: 1.2717504501342773,
    loss_my_disc_shift: 0.00257676444016397,
    loss_disc_fake_g: -0.03882637247443199,
  },
};

for (const file of shipped) {
  test(`${file} builds and trains one step, with the step's pinned log`, async () => {
    const log = await checkConfig(new URL(`../../${file}`, import.meta.url).pathname, backend);
    assert.ok(FIRST_STEP[file], `${file}: no pinned first step; print its log and add it`);
    assertLogVars(log, FIRST_STEP[file], 1e-4, file);
  });
}
