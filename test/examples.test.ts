/** The guide's examples (docs/custom-loss.md) run as a reader would run them. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { checkConfig } from '../src/cli/train.ts';
import { Mulberry32 } from '../src/core/prng.ts';
import { DataInfoError, DEFAULT_SEED, LOSSES, manualSeed } from '../src/index.ts';
import { useTestBackend } from './helpers/backend.ts';

let backend = 'cpu';
before(async () => {
  backend = await useTestBackend();
});

/**
 * Imports a module, returning what it printed. While it runs, `Math.random` is a seeded sequence
 * and genloss's default generator starts from its default seed, so that an example whose layers
 * TF.js initialises from `Math.random` prints the same numbers every run.
 */
async function run(module: string): Promise<string[]> {
  const lines: string[] = [];
  const { log } = console;
  const { random } = Math;
  const seeded = new Mulberry32(1);
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  Math.random = () => seeded.next();
  manualSeed(DEFAULT_SEED);
  try {
    await import(module);
  } finally {
    console.log = log;
    Math.random = random;
  }
  return lines;
}

describe('docs/custom-loss.md examples', () => {
  test('a new loss: MyMSELoss from a config object and from YAML', async () => {
    const out = await run('../examples/custom-loss/use-my-mse-loss.ts');
    assert.deepEqual(out, [
      '0.5',
      '12',
      "MyMSELoss: option 'reduction' must be one of 'none'|'mean'|'sum', got 'avg'",
    ]);
    assert.ok(LOSSES.has('MyMSELoss'));
  });

  test('a loss with data_info: both calls, and the missing-output error', async () => {
    const out = await run('../examples/custom-loss/use-my-disc-shift.ts');
    assert.deepEqual(out.slice(0, 3), ['0.5', '0.5', '0.5']);
    assert.match(
      out[3],
      /^true MyDiscShiftLoss: data_info argument 'x' needs output 'disc_pred_real'/,
    );
    assert.ok(DataInfoError);
  });

  test('a GAN model with customized loss: the user loss trains and is logged', async () => {
    const out = await run('../examples/custom-loss/train-with-custom-loss.ts');
    assert.deepEqual(
      out.map((line) => line.split(' ').slice(0, -1).join(' ')),
      [
        '0 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_r1_gp loss_disc_fake_g',
        '1 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_disc_fake_g',
        '2 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_r1_gp loss_disc_fake_g',
      ],
    );
    // The value printed: loss_my_disc_shift = 0.01 · mean(D(real)²), D trained 0, 1, 2 steps from
    // the layers' initial weights, which `run` seeds (the same on cpu and wasm); it changes, and must be reprinted,
    // when the example, TF.js's layer initialisers or the training step change. The tolerance is
    // the last printed digit.
    const printed = out.map((line) => Number(line.split(' ').at(-1)));
    [0.001072, 0.00115, 0.001198].forEach((want, step) => {
      assert.ok(Math.abs(printed[step] - want) <= 1e-6, `step ${step}: ${printed[step]}`);
    });
  });

  test('genloss check on the config with custom_imports', async () => {
    const log = await checkConfig(
      new URL('../examples/custom-loss/custom-gan.yaml', import.meta.url).pathname,
      backend,
    );
    // The value of its first step: seeded (see test/cli/configs.test.ts, which pins the whole log).
    assert.ok(Math.abs(log.loss_my_disc_shift - 0.0025767644) <= 1e-4 * 0.0025767644);
  });
});
