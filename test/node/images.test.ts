import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import YAML from 'yaml';
import { checkConfig } from '../../src/cli/train.ts';
import { imageFolderDataset } from '../../src/node/images.ts';
import { ConfigError } from '../../src/node.ts';
import { useTestBackend } from '../helpers/backend.ts';

let backend = 'cpu';
before(async () => {
  backend = await useTestBackend();
});

/** A solid-colour RGBA image of `size`×`size`. */
function solid(size: number, [r, g, b]: number[]): { width: number; height: number; data: Buffer } {
  const data = Buffer.alloc(size * size * 4);
  for (let i = 0; i < size * size; i++) data.set([r, g, b, 255], i * 4);
  return { width: size, height: size, data };
}

function imageFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-images-'));
  const png = (name: string, rgb: number[], size = 16) => {
    const image = new PNG({ width: size, height: size });
    image.data = solid(size, rgb).data;
    writeFileSync(join(dir, name), PNG.sync.write(image));
  };
  png('a.png', [255, 0, 0]);
  png('b.png', [0, 0, 255], 40);
  writeFileSync(join(dir, 'c.jpg'), jpeg.encode(solid(24, [0, 255, 0]), 95).data);
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  return dir;
}

test('a folder of PNG and JPEG images loads resized, in [−1, 1], sorted by name', async () => {
  const ds = await imageFolderDataset(imageFolder(), 8);
  assert.equal(ds.size, 3);
  assert.deepEqual(ds.imageShape, [8, 8, 3]);
  const batch = ds.batch([0, 1, 2]);
  const centre = tf.tidy(() => Array.from(batch.slice([0, 4, 4, 0], [3, 1, 1, 3]).dataSync()));
  const expected = [1, -1, -1, -1, -1, 1, -1, 1, -1];
  for (const [i, v] of centre.entries()) assert.ok(Math.abs(v - expected[i]) < 0.03, `${i}: ${v}`);
  batch.dispose();
});

test('a training config reads its folder relative to the config file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-folder-cfg-'));
  const images = imageFolder();
  mkdirSync(join(dir, 'cfg'));
  const cfg = YAML.parse(
    readFileSync(new URL('../fixtures/tiny-train.yaml', import.meta.url), 'utf8'),
  );
  cfg.data = { type: 'folder', path: join('..', '..', images.split('/').pop() as string), size: 8 };
  cfg.train.batch_size = 2;
  const path = join(dir, 'cfg', 'folder.yaml');
  writeFileSync(path, YAML.stringify(cfg));
  const log = await checkConfig(path, backend);
  assert.ok(Number.isFinite(log.loss));
});

test('an empty folder or an undecodable image is a ConfigError naming it', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'genloss-empty-'));
  await assert.rejects(
    imageFolderDataset(empty, 8),
    (e: Error) => e instanceof ConfigError && e.message.includes('has no .png'),
  );
  writeFileSync(join(empty, 'broken.png'), 'not a png');
  await assert.rejects(
    imageFolderDataset(empty, 8),
    new RegExp(`cannot decode ${join(empty, 'broken.png')}`),
  );
});
