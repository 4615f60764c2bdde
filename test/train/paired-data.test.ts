/**
 * The image-to-image data of src/train/paired-data.ts, checked by their definitions: the
 * degradations (area downsampling, seeded Gaussian noise of std σ, a normalised Gaussian blur),
 * the inpainting masks (seeded, binary, boxes within their size bounds, non-empty strokes), the
 * matting data (the compositing equation, the trimap's values and unknown band), `FieldsDataset`
 * and the shapes dataset the GAN demo trains on (unchanged by supersampling's addition).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ArrayDataset, shapesDataset } from '../../src/train/datasets.ts';
import {
  degradationOptions,
  FieldsDataset,
  inpaintingPairs,
  maskOptions,
  mattingData,
  restorationPairs,
} from '../../src/train/paired-data.ts';
import { useTestBackend } from '../helpers/backend.ts';

before(useTestBackend);

const degrade = (images: ArrayDataset, cfg: unknown) =>
  restorationPairs(images, degradationOptions.parse(cfg));

/** A dataset of one grey image whose [0, 1] values are `unit` (stored, as every dataset, in [−1, 1]). */
function datasetOf(unit: number[][]): ArrayDataset {
  const pixels = Float32Array.from(unit.flat(), (v) => v * 2 - 1);
  return new ArrayDataset('test', pixels, 1, [unit.length, unit[0].length, 1]);
}

describe('degradations', () => {
  test('gt_img is the images on [0, 1]; downsample is the mean of each scale×scale block', () => {
    const images = shapesDataset(4, 16, 1, 4);
    for (const scale of [2, 3, 4]) {
      const pairs = degrade(images, { type: 'downsample', scale });
      const gt = pairs.fields.gt_img;
      assert.deepEqual(
        Array.from(gt.pixels),
        Array.from(images.pixels, (v) => Math.fround((v + 1) / 2)),
      );
      const lr = pairs.fields.img;
      const h = Math.floor(16 / scale);
      assert.deepEqual(lr.imageShape, [h, h, 3], `scale ${scale}: the remainder rows are dropped`);
      for (let n = 0; n < 4; n++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < h; x++) {
            for (let c = 0; c < 3; c++) {
              let sum = 0;
              for (let dy = 0; dy < scale; dy++) {
                for (let dx = 0; dx < scale; dx++) {
                  sum += gt.pixels[((n * 16 + y * scale + dy) * 16 + x * scale + dx) * 3 + c];
                }
              }
              const got = lr.pixels[((n * h + y) * h + x) * 3 + c];
              // float32 summation: a few units of 2⁻²⁴ on values in [0, 1].
              assert.ok(
                Math.abs(got - sum / scale ** 2) <= 2 ** -21,
                `scale ${scale}, image ${n}, (${y}, ${x}, ${c}): ${got} vs ${sum / scale ** 2}`,
              );
            }
          }
        }
      }
    }
  });

  test('noise: additive, zero-mean, of std sigma, seeded', () => {
    const images = shapesDataset(16, 16, 2);
    const sigma = 0.1;
    const noisy = (seed: number) =>
      degrade(images, { type: 'noise', sigma, seed }).fields.img.pixels;
    const a = noisy(5);
    const gt = degrade(images, { type: 'noise', sigma, seed: 5 }).fields.gt_img.pixels;
    const residual = Array.from(a, (v, i) => v - gt[i]);
    const n = residual.length;
    const mean = residual.reduce((s, v) => s + v, 0) / n;
    const std = Math.sqrt(residual.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
    // n = 12288 draws: the mean's standard error is σ/√n ≈ 0.0009, the std's ≈ σ/√(2n) ≈ 0.0006.
    assert.ok(Math.abs(mean) < 0.005, `mean ${mean}`);
    assert.ok(Math.abs(std - sigma) < 0.005, `std ${std}`);
    const within = residual.filter((v) => Math.abs(v) < sigma).length / n;
    assert.ok(
      Math.abs(within - 0.6827) < 0.02,
      `share within one σ: ${within} (a Gaussian's 0.683)`,
    );
    assert.deepEqual(noisy(5), a, 'the same seed gives the same noise');
    assert.notDeepEqual(noisy(6), a, 'another seed gives other noise');
  });

  test('blur: a normalised Gaussian of std sigma; zero padding darkens only the border', () => {
    const size = 15;
    const sigma = 1.5;
    const k = 7;
    const half = (k - 1) / 2;
    const flat = degrade(datasetOf(Array.from({ length: size }, () => Array(size).fill(0.6))), {
      type: 'blur',
      sigma,
      kernel_size: k,
    }).fields.img.pixels;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = flat[y * size + x];
        const interior = Math.min(y, x, size - 1 - y, size - 1 - x) >= half;
        if (interior)
          assert.ok(Math.abs(v - 0.6) < 1e-6, `interior (${y}, ${x}) keeps the mean: ${v}`);
        else assert.ok(v < 0.6 - 1e-4, `border (${y}, ${x}) darkens: ${v}`);
      }
    }
    const impulse = Array.from({ length: size }, (_, y) =>
      Array.from({ length: size }, (_, x) => (y === 7 && x === 7 ? 1 : 0)),
    );
    const response = degrade(datasetOf(impulse), { type: 'blur', sigma, kernel_size: k }).fields.img
      .pixels;
    const total = response.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(total - 1) < 1e-6, `the kernel sums to 1: ${total}`);
    const at = (dy: number, dx: number) => response[(7 + dy) * size + 7 + dx];
    for (const [dy, dx] of [
      [0, 1],
      [1, 1],
      [2, 3],
    ]) {
      const ratio = at(dy, dx) / at(0, 0);
      const want = Math.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma));
      assert.ok(Math.abs(ratio - want) < 1e-5, `(${dy}, ${dx}): ${ratio} vs ${want}`);
      assert.equal(at(dy, dx), at(-dx, dy), 'isotropic');
    }
    assert.equal(at(0, half + 1), 0, 'nothing beyond the kernel');
  });
});

describe('inpainting masks', () => {
  const size = 32;
  const images = shapesDataset(24, size, 3);
  const masks = (options: Record<string, unknown>) =>
    inpaintingPairs(images, maskOptions.parse(options)).fields.mask;
  const imageMask = (field: ArrayDataset, n: number) =>
    field.pixels.subarray(n * size * size, (n + 1) * size * size);

  test('gt_img is the images as given; masks are N×H×W×1 of 0 and 1, seeded', () => {
    const pairs = inpaintingPairs(images, maskOptions.parse({ seed: 4 }));
    assert.equal(pairs.fields.gt_img, images);
    assert.deepEqual(pairs.fields.mask.imageShape, [size, size, 1]);
    assert.ok(pairs.fields.mask.pixels.every((v) => v === 0 || v === 1));
    assert.deepEqual(masks({ seed: 4 }).pixels, pairs.fields.mask.pixels);
    assert.notDeepEqual(masks({ seed: 5 }).pixels, pairs.fields.mask.pixels);
  });

  test('boxes: one filled rectangle per image, each side in [max(2, 0.2·size), max_size·size]', () => {
    const maxSize = 0.5;
    const field = masks({ type: 'boxes', max_size: maxSize, seed: 1 });
    for (let n = 0; n < images.size; n++) {
      const m = imageMask(field, n);
      const ys: number[] = [];
      const xs: number[] = [];
      m.forEach((v, i) => {
        if (v === 1) {
          ys.push(Math.floor(i / size));
          xs.push(i % size);
        }
      });
      const [h, w] = [Math.max(...ys) - Math.min(...ys) + 1, Math.max(...xs) - Math.min(...xs) + 1];
      assert.equal(ys.length, h * w, `image ${n}: the hole is one filled rectangle`);
      for (const side of [h, w]) {
        assert.ok(
          side >= Math.max(2, Math.round(0.2 * size)) && side <= Math.round(maxSize * size),
          `image ${n}: side ${side}`,
        );
      }
    }
  });

  test('strokes: every mask has a hole, smaller than the image; mixed draws both kinds', () => {
    const field = masks({ type: 'strokes', max_size: 0.5, seed: 2 });
    let rectangles = 0;
    for (let n = 0; n < images.size; n++) {
      const holes = imageMask(field, n).reduce((s, v) => s + v, 0);
      assert.ok(holes > 0 && holes < size * size, `image ${n}: ${holes} hole pixels`);
    }
    const mixed = masks({ type: 'mixed', seed: 2 });
    for (let n = 0; n < images.size; n++) {
      const m = imageMask(mixed, n);
      const rows = new Set<number>();
      const cols = new Set<number>();
      let holes = 0;
      m.forEach((v, i) => {
        if (v === 1) {
          rows.add(Math.floor(i / size));
          cols.add(i % size);
          holes++;
        }
      });
      if (holes === rows.size * cols.size) rectangles++;
    }
    assert.ok(rectangles > 0 && rectangles < images.size, `${rectangles} boxes of ${images.size}`);
  });
});

describe('matting data', () => {
  const size = 24;
  const count = 6;
  const data = mattingData(count, size, 9, 2);
  const { merged, fg, bg, alpha, trimap } = data.fields;

  test('fields and shapes; merged = α·fg + (1 − α)·bg exactly', () => {
    assert.deepEqual(Object.keys(data.fields), ['merged', 'fg', 'bg', 'alpha', 'trimap']);
    for (const [field, channels] of [
      [merged, 3],
      [fg, 3],
      [bg, 3],
      [alpha, 1],
      [trimap, 1],
    ] as const) {
      assert.deepEqual(field.imageShape, [size, size, channels]);
      assert.equal(field.size, count);
    }
    for (let i = 0; i < merged.pixels.length; i++) {
      const a = alpha.pixels[Math.floor(i / 3)];
      assert.equal(merged.pixels[i], Math.fround(a * fg.pixels[i] + (1 - a) * bg.pixels[i]));
    }
    for (const field of [merged, fg, bg, alpha]) {
      assert.ok(
        field.pixels.every((v) => v >= 0 && v <= 1),
        'values in [0, 1]',
      );
    }
    assert.ok(
      alpha.pixels.some((v) => v > 0 && v < 1),
      'anti-aliased edges',
    );
  });

  test('trimap: values 0, 0.5, 1; the unknown band covers every fractional alpha, within trimap_width of one', () => {
    const width = 2;
    assert.ok(trimap.pixels.every((v) => v === 0 || v === 0.5 || v === 1));
    for (let n = 0; n < count; n++) {
      const a = (y: number, x: number) => alpha.pixels[(n * size + y) * size + x];
      const t = (y: number, x: number) => trimap.pixels[(n * size + y) * size + x];
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          if (a(y, x) > 0 && a(y, x) < 1) assert.equal(t(y, x), 0.5, `fractional at (${y}, ${x})`);
          if (t(y, x) === 1) assert.equal(a(y, x), 1, 'known foreground is opaque');
          if (t(y, x) === 0) assert.equal(a(y, x), 0, 'known background is clear');
          if (t(y, x) === 0.5) {
            let near = false;
            for (let dy = -width; dy <= width; dy++) {
              for (let dx = -width; dx <= width; dx++) {
                const [py, px] = [y + dy, x + dx];
                if (py >= 0 && py < size && px >= 0 && px < size) {
                  near ||= a(py, px) > 0 && a(py, px) < 1;
                }
              }
            }
            assert.ok(near, `unknown (${y}, ${x}) is within ${width} pixels of a fractional alpha`);
          }
        }
      }
    }
    const narrow = mattingData(count, size, 9, 0).fields;
    narrow.trimap.pixels.forEach((v, i) => {
      const a = narrow.alpha.pixels[i];
      assert.equal(v === 0.5, a > 0 && a < 1, 'trimap_width 0: unknown exactly where fractional');
    });
  });

  test('seeded: the same seed gives the same data', () => {
    assert.deepEqual(mattingData(count, size, 9, 2).fields.merged.pixels, merged.pixels);
    assert.notDeepEqual(mattingData(count, size, 10, 2).fields.merged.pixels, merged.pixels);
  });
});

describe('FieldsDataset', () => {
  test('split: the first count images and the rest, every field, the same batches', () => {
    const data = mattingData(5, 8, 1, 1);
    const [head, tail] = data.split(2);
    assert.deepEqual([head.size, tail.size], [2, 3]);
    assert.match(head.name, /\[0, 2\)$/);
    assert.match(tail.name, /\[2, 5\)$/);
    const same = (a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>) => {
      assert.deepEqual(Object.keys(a), Object.keys(b));
      for (const k of Object.keys(a)) assert.deepEqual(a[k].arraySync(), b[k].arraySync(), k);
      tf.dispose([...Object.values(a), ...Object.values(b)]);
    };
    same(head.batch([1, 0]), data.batch([1, 0]));
    same(tail.batch([0, 2]), data.batch([2, 4]));
  });

  test('fields of different sizes are refused', () => {
    const a = shapesDataset(3, 8, 0);
    const b = shapesDataset(4, 8, 0);
    assert.throws(
      () => new FieldsDataset('test', { img: a, gt_img: b }),
      /FieldsDataset\(test\): fields of different sizes/,
    );
  });
});

describe('shapesDataset', () => {
  test('supersample 1 is the GAN demo dataset as before supersampling existed (pinned SHA-256)', () => {
    // Hashes of the pixels from the implementation before `supersample` was added (commit 4e33484).
    const pinned: [number, number, number, string][] = [
      [64, 32, 0, '1b1da0786668cdcda32acda6d8351328a47b29a3adfcc026ba21ca7f440d7cc3'],
      [16, 8, 5, '8aae4baf98640da6d2422c924ae91282124cb077e72f2536968c75b03a684a7a'],
    ];
    for (const [count, size, seed, hash] of pinned) {
      for (const data of [shapesDataset(count, size, seed), shapesDataset(count, size, seed, 1)]) {
        const digest = createHash('sha256').update(Buffer.from(data.pixels.buffer)).digest('hex');
        assert.equal(digest, hash, `shapes(${count}, ${size}, seed ${seed})`);
      }
    }
  });

  test('supersampling changes a minority of the values (the edges), not the scenes', () => {
    const hard = shapesDataset(8, 16, 2);
    const soft = shapesDataset(8, 16, 2, 4);
    let changed = 0;
    hard.pixels.forEach((v, i) => {
      if (soft.pixels[i] !== v) changed++;
    });
    assert.ok(changed > 0 && changed < hard.pixels.length / 4, `${changed} values changed`);
  });
});
