import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import YAML from 'yaml';
import { checkConfig } from '../../src/cli/train.ts';
import { DataError, ResourceLimitError } from '../../src/core/errors.ts';
import { type ImageFolderOptions, imageFolderDataset } from '../../src/node/images.ts';
import { ConfigError } from '../../src/node.ts';
import { folderDataOptions } from '../../src/train/config.ts';
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

test('an empty folder is a ConfigError; an undecodable image is a DataError naming it', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'genloss-empty-'));
  await assert.rejects(
    imageFolderDataset(empty, 8),
    (e: Error) => e instanceof ConfigError && e.message.includes('has no .png'),
  );
  writeFileSync(join(empty, 'broken.png'), 'not a png');
  await refused(empty, {}, `data.path: cannot decode ${join(empty, 'broken.png')} (not a PNG`);
});

/** A PNG chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

/**
 * An 8-bit greyscale PNG whose IHDR says `width`×`height` (Adam7 when `interlace`) and whose IDAT
 * holds `raw` (filter bytes and samples) deflated; no IDAT when `raw` is absent.
 */
function greyPng(width: number, height: number, raw?: Buffer, interlace = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, interlace], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(raw ? [chunk('IDAT', deflateSync(raw))] : []),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A fresh folder holding a 16×16 red `a.png`; returns its path. */
function folderWithOneImage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-bad-'));
  const image = new PNG({ width: 16, height: 16 });
  image.data = solid(16, [255, 0, 0]).data;
  writeFileSync(join(dir, 'a.png'), PNG.sync.write(image));
  return dir;
}

/**
 * Loading `dir` fails with `type` (default DataError), its message containing `expected`, and
 * leaves no tensor behind.
 */
async function refused(
  dir: string,
  options: ImageFolderOptions,
  expected: string,
  type: new (...args: never[]) => Error = DataError,
): Promise<void> {
  const before = tf.memory().numTensors;
  await assert.rejects(imageFolderDataset(dir, 8, options), (e: Error) => {
    assert.ok(e instanceof type, `${e.name}: ${e.message}`);
    assert.ok(e.message.includes(expected), e.message);
    return true;
  });
  assert.equal(tf.memory().numTensors, before);
}

test('data.max_pixels and data.skip_bad_files default to 4096² and false', () => {
  const parsed = folderDataOptions.parse({ type: 'folder', path: 'images' });
  assert.equal(parsed.max_pixels, 4096 * 4096);
  assert.equal(parsed.skip_bad_files, false);
});

test('a 45-byte PNG whose header claims 20000×20000 is refused from its header', async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'big.png');
  writeFileSync(path, greyPng(20000, 20000));
  assert.equal(readFileSync(path).length, 45);
  await refused(
    dir,
    {},
    `data.path: ${path} is 20000×20000 = 400000000 pixels, over data.max_pixels 16777216`,
  );
});

test('a real deflate bomb is refused from its header, over data.max_pixels', async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'bomb.png');
  writeFileSync(path, greyPng(3000, 3000, Buffer.alloc(3000 * 3001)));
  await refused(
    dir,
    { maxPixels: 1_000_000 },
    `data.path: ${path} is 3000×3000 = 9000000 pixels, over data.max_pixels 1000000`,
  );
});

test('an interlaced PNG loads; one whose data inflates past its IHDR size is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-adam7-'));
  // Adam7 passes of an 8×8 image: 1, 1, 2, 4, 8, 16 and 32 one-byte samples, one filter byte a row.
  const rows = [1, 1, 1, 2, 2, 4, 4];
  const samples = [1, 1, 2, 2, 4, 4, 8];
  const raw = Buffer.concat(rows.map((r, i) => Buffer.alloc(r * (1 + samples[i]), 0)));
  writeFileSync(join(dir, 'a.png'), greyPng(8, 8, raw, 1));
  const ds = await imageFolderDataset(dir, 8);
  const batch = ds.batch([0]);
  assert.deepEqual(Array.from(new Set(batch.dataSync())), [-1]);
  batch.dispose();
  const path = join(dir, 'b.png');
  writeFileSync(path, greyPng(8, 8, Buffer.alloc(1_000_000), 1));
  await refused(dir, {}, `cannot decode ${path} (its image data inflates past the 79 bytes`);
});

test('a FIFO named b.png is refused without blocking', { timeout: 20_000 }, async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'b.png');
  execFileSync('mkfifo', [path]);
  await refused(dir, {}, `data.path: ${path} is a FIFO, not a regular file`);
});

test('a symlink b.png to /dev/zero is refused as not a regular file', async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'b.png');
  symlinkSync('/dev/zero', path);
  await refused(dir, {}, `data.path: ${path} is a character device, not a regular file`);
});

test('a JPEG whose frame header claims 60000×60000 is refused from its header', async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'b.jpg');
  const bytes = Buffer.from(jpeg.encode(solid(8, [0, 255, 0]), 90).data);
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
  bytes.writeUInt16BE(60000, sof + 5);
  bytes.writeUInt16BE(60000, sof + 7);
  writeFileSync(path, bytes);
  await refused(
    dir,
    {},
    `data.path: ${path} is 60000×60000 = 3600000000 pixels, over data.max_pixels 16777216`,
  );
});

test('a truncated PNG is a DataError naming it', async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'b.png');
  writeFileSync(path, readFileSync(join(dir, 'a.png')).subarray(0, 60));
  await refused(dir, {}, `data.path: cannot decode ${path} (truncated in its IDAT chunk`);
});

test('a PNG with a second IHDR is refused (a decoder would take its unchecked size)', async () => {
  const dir = folderWithOneImage();
  const path = join(dir, 'b.png');
  const small = greyPng(16, 16, Buffer.alloc(16 * 17));
  const big = greyPng(20000, 20000).subarray(8, 33);
  writeFileSync(path, Buffer.concat([small.subarray(0, 33), big, small.subarray(33)]));
  await refused(dir, {}, `data.path: cannot decode ${path} (a second IHDR chunk at byte 33)`);
});

test('every bad file is reported; data.skip_bad_files skips each with one onSkip call and loads the rest', {
  timeout: 20_000,
}, async () => {
  const dir = folderWithOneImage();
  execFileSync('mkfifo', [join(dir, 'b.png')]);
  writeFileSync(join(dir, 'c.png'), greyPng(20000, 20000));
  writeFileSync(join(dir, 'd.jpg'), jpeg.encode(solid(24, [0, 255, 0]), 95).data);
  writeFileSync(join(dir, 'e.png'), 'garbage');
  const skipped: string[][] = [];
  const onSkip = (path: string, reason: string) => skipped.push([path, reason]);
  const ds = await imageFolderDataset(dir, 8, { skipBadFiles: true, onSkip });
  assert.equal(ds.size, 2);
  const batch = ds.batch([0, 1]);
  const centre = tf.tidy(() => Array.from(batch.slice([0, 4, 4, 0], [2, 1, 1, 3]).dataSync()));
  batch.dispose();
  for (const [i, v] of [1, -1, -1, -1, 1, -1].entries()) assert.ok(Math.abs(centre[i] - v) < 0.03);
  assert.deepEqual(skipped, [
    [join(dir, 'b.png'), 'a FIFO, not a regular file'],
    [join(dir, 'c.png'), '20000×20000 = 400000000 pixels, over data.max_pixels 16777216'],
    [join(dir, 'e.png'), 'cannot decode (not a PNG (bad signature))'],
  ]);

  await refused(
    dir,
    {},
    [
      `data.path: 3 of the 5 images of ${dir} cannot be used (data.skip_bad_files: true skips them):`,
      `  data.path: ${join(dir, 'b.png')} is a FIFO, not a regular file`,
      `  data.path: ${join(dir, 'c.png')} is 20000×20000 = 400000000 pixels, over data.max_pixels 16777216`,
      `  data.path: cannot decode ${join(dir, 'e.png')} (not a PNG (bad signature))`,
    ].join('\n'),
  );

  const bad = mkdtempSync(join(tmpdir(), 'genloss-all-bad-'));
  writeFileSync(join(bad, 'x.png'), 'garbage');
  const write = process.stderr.write;
  const warnings: string[] = [];
  process.stderr.write = (line: string) => {
    warnings.push(line);
    return true;
  };
  try {
    await refused(bad, { skipBadFiles: true }, 'has no usable image (all 1 skipped)', ConfigError);
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(warnings, [
    `genloss: skipping ${join(bad, 'x.png')}: cannot decode (not a PNG (bad signature))\n`,
  ]);
});

test('a dataset over maxBytes is a ResourceLimitError before any file is read', {
  timeout: 20_000,
}, async () => {
  const dir = folderWithOneImage();
  execFileSync('mkfifo', [join(dir, 'b.png')]);
  await refused(
    dir,
    { maxBytes: 1000 },
    'data.size: 2 images of 8×8×3 float32 take 1536 bytes, over the limit of 1000',
    ResourceLimitError,
  );
});

test('a dataset over one Float32Array is a ResourceLimitError, even under maxBytes', async () => {
  const dir = folderWithOneImage();
  writeFileSync(join(dir, 'b.png'), readFileSync(join(dir, 'a.png')));
  await assert.rejects(
    imageFolderDataset(dir, 32768, { maxBytes: Number.POSITIVE_INFINITY }),
    (e: Error) =>
      e instanceof ResourceLimitError &&
      e.message.startsWith(
        'data.size: 2 images of 32768×32768×3 are 6442450944 values, over the 4294967296',
      ),
  );
});
