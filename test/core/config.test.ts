import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, LOSSES, LossModule, loadConfigFile, parseConfig } from '../../src/node.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { uniform } from '../helpers/tensors.ts';

before(useTestBackend);

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

/** Inputs for each foundation loss's forward, NHWC. */
function inputsFor(type: string): tf.Tensor[] {
  const img = (seed: number, c = 3) => uniform([1, 4, 4, c], seed);
  switch (type) {
    case 'MaskedTVLoss':
      return [img(1), tf.ones([1, 4, 4, 1])];
    case 'L1CompositionLoss':
    case 'MSECompositionLoss':
    case 'CharbonnierCompLoss':
      return [img(1, 1), img(2), img(3), img(4)];
    default:
      return [img(1), img(2)];
  }
}

describe('configs from files', () => {
  for (const file of ['foundation-losses.yaml', 'foundation-losses.json']) {
    test(`${file}: every foundation loss builds and computes`, async () => {
      const cfg = (await loadConfigFile(fixture(file))) as { type: string }[];
      const modules = LOSSES.build(cfg);
      assert.deepEqual(
        modules.map((m) => m.lossType),
        cfg.map((c) => c.type),
      );
      tf.tidy(() => {
        modules.forEach((m, i) => {
          const out = (m as unknown as { forward: (...a: tf.Tensor[]) => tf.Tensor }).forward(
            ...inputsFor(cfg[i].type),
          );
          assert.ok(out.dataSync().every(Number.isFinite), cfg[i].type);
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
