/** The guide's examples (docs/custom-loss.md) run as a reader would run them. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { checkConfig } from '../src/cli/train.ts';
import { DataInfoError, LOSSES } from '../src/index.ts';
import { useTestBackend } from './helpers/backend.ts';

let backend = 'cpu';
before(async () => {
  backend = await useTestBackend();
});

/** Imports a module, returning what it printed. */
async function run(module: string): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  try {
    await import(module);
  } finally {
    console.log = log;
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
    assert.equal(out.length, 3);
    assert.match(
      out[0],
      /^0 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_r1_gp loss_disc_fake_g \d\.\d{6}$/,
    );
    assert.match(
      out[1],
      /^1 loss loss_disc_fake loss_disc_real loss_my_disc_shift loss_disc_fake_g /,
    );
  });

  test('genloss check on the config with custom_imports', async () => {
    const log = await checkConfig(
      new URL('../examples/custom-loss/custom-gan.yaml', import.meta.url).pathname,
      backend,
    );
    assert.ok(Number.isFinite(log.loss_my_disc_shift));
  });
});
