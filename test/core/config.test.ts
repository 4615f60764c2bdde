import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, LOSSES, LossModule, loadConfigFile, parseConfig } from '../../src/node.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { composite, gradientLoss, maskedTV, pixelLoss, psnr } from '../helpers/formulas.ts';
import { assertClose, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

/**
 * Inputs for each foundation loss's forward (NHWC), and MMagic's formula for them with the
 * options test/fixtures/foundation-losses.{yaml,json} give, so that every option read from the
 * file shows in the value. CharbonnierLoss (eps 1e-6, sample_wise) gets pred and target 1e-3 or
 * 3e-3 apart per sample and a mask with one pixel in sample 0 and three in sample 1, where a
 * different eps or a pixel-wise mean would change the value.
 */
function caseFor(type: string): { inputs: tf.Tensor[]; want: tf.Tensor } {
  const img = (seed: number, c = 3) => uniform([1, 4, 4, c], seed);
  switch (type) {
    case 'L1Loss':
      return { inputs: [img(1), img(2)], want: pixelLoss('l1', img(1), img(2)) };
    case 'MSELoss':
      return {
        inputs: [img(1), img(2)],
        want: tf.mul(pixelLoss('mse', img(1), img(2), { reduction: 'sum' }), 0.5),
      };
    case 'CharbonnierLoss': {
      const pred = uniform([2, 4, 4, 3], 1);
      const target = tf.add(pred, tf.tensor4d([1e-3, 3e-3], [2, 1, 1, 1]));
      const mask = tf.tensor4d(
        Array.from({ length: 32 }, (_, k) => ([5, 16, 17, 30].includes(k) ? 1 : 0)),
        [2, 4, 4, 1],
      );
      const options = { eps: 1e-6, weight: mask, sample_wise: true };
      return {
        inputs: [pred, target, mask],
        want: pixelLoss('charbonnier', pred, target, options),
      };
    }
    case 'MaskedTVLoss':
      return {
        inputs: [img(1), tf.ones([1, 4, 4, 1])],
        want: tf.mul(maskedTV(img(1), tf.ones([1, 4, 4, 1])), 0.1),
      };
    case 'PSNRLoss':
      return { inputs: [img(1), img(2)], want: psnr(img(1), img(2)) };
    case 'L1CompositionLoss':
    case 'MSECompositionLoss':
    case 'CharbonnierCompLoss': {
      const inputs = [img(1, 1), img(2), img(3), img(4)];
      const merged = composite(inputs[0], inputs[1], inputs[2]);
      const kind =
        type === 'L1CompositionLoss' ? 'l1' : type === 'MSECompositionLoss' ? 'mse' : 'charbonnier';
      const weight = type === 'MSECompositionLoss' ? 2 : 1;
      return { inputs, want: tf.mul(pixelLoss(kind, merged, inputs[3]), weight) };
    }
    case 'GradientLoss':
      return {
        inputs: [img(1), img(2)],
        want: tf.mul(gradientLoss(img(1), img(2), { reduction: 'none' }), 0.5),
      };
    default:
      throw new Error(`no case for ${type}`);
  }
}

describe('configs from files', () => {
  for (const file of ['foundation-losses.yaml', 'foundation-losses.json']) {
    test(`${file}: every foundation loss builds and computes MMagic's value with the file's options`, async () => {
      const cfg = (await loadConfigFile(fixture(file))) as { type: string }[];
      const modules = LOSSES.build(cfg);
      assert.deepEqual(
        modules.map((m) => m.lossType),
        cfg.map((c) => c.type),
      );
      tf.tidy(() => {
        modules.forEach((m, i) => {
          const { inputs, want } = caseFor(cfg[i].type);
          const forward = (m as unknown as { forward: (...a: tf.Tensor[]) => tf.Tensor }).forward;
          assertClose(forward.apply(m, inputs), want, {
            atol: 1e-7,
            rtol: 1e-5,
            what: cfg[i].type,
          });
        });
      });
    });
  }

  test('YAML and JSON give the same objects', async () => {
    assert.deepEqual(
      await loadConfigFile(fixture('foundation-losses.yaml')),
      await loadConfigFile(fixture('foundation-losses.json')),
    );
  });

  test('a YAML syntax error names the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'genloss-'));
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'type: L1Loss\n  loss_weight: [1,\n');
    return assert.rejects(
      loadConfigFile(path),
      (e: Error) => e instanceof ConfigError && e.message.startsWith(`${path}: not valid YAML`),
    );
  });

  test('unknown extensions and missing files are ConfigErrors', async () => {
    await assert.rejects(
      loadConfigFile('losses.toml'),
      /losses\.toml: config files must end in \.json, \.yaml or \.yml/,
    );
    await assert.rejects(loadConfigFile('/nonexistent/losses.yaml'), /cannot read config file/);
  });

  test('parseConfig reads JSON and YAML text', () => {
    assert.deepEqual(parseConfig('{"type": "L1Loss"}', 'json'), { type: 'L1Loss' });
    assert.deepEqual(parseConfig('type: L1Loss\nloss_weight: 0.5\n', 'yaml'), {
      type: 'L1Loss',
      loss_weight: 0.5,
    });
    assert.throws(() => parseConfig('{', 'json', 'inline'), /inline: not valid JSON/);
  });

  test('every registered foundation loss is a LossModule', () => {
    for (const name of LOSSES.list()) {
      const cls = LOSSES.get(name);
      assert.ok(cls.prototype instanceof LossModule, name);
    }
  });
});
