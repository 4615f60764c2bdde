import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Mulberry32 } from '../../src/core/prng.ts';
import {
  buildMetric,
  ConfigError,
  laplacianPyramid,
  ShapeError,
  SlicedWassersteinDistance,
  type SwdOptions,
  seededSwdSource,
  slicedWassersteinDistance,
  swdResolutions,
} from '../../src/index.ts';
import { Float32Sorter } from '../../src/metrics/swd.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { loadCases } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak } from '../helpers/tensors.ts';
import { type ImageSpec, proceduralDraws, proceduralImage } from './procedural.ts';

before(useTestBackend);

/** An SWD case of test/reference/metrics.json. */
interface SwdCase {
  id: string;
  type: 'SWD';
  shape: number[];
  real: ImageSpec;
  fake: ImageSpec;
  /** Images per MMagic `process` call: real then fake, batch by batch. */
  batch: number;
  options: Omit<SwdOptions, 'image_shape' | 'random'>;
  resolutions: number[];
  distances: number[];
  avg: number;
}

describeOnEachBackend('SWD: PyTorch reference cases of MMagic (metrics.json)', () => {
  const cases = loadCases<SwdCase>('metrics.json', 'SWD');
  test(`${cases.length} cases with the reference's patch positions and directions`, () => {
    assert.equal(cases.length, 6);
    for (const c of cases) {
      const [n, h, w, ch] = c.shape;
      const metric = new SlicedWassersteinDistance({
        ...c.options,
        image_shape: [ch, h, w],
        random: proceduralDraws(),
      });
      const real = proceduralImage(c.shape, c.real);
      const fake = proceduralImage(c.shape, c.fake);
      for (let start = 0; start < n; start += c.batch) {
        const take = (t: tf.Tensor4D) => tf.slice(t, start, c.batch);
        tf.tidy(() => {
          assert.ok(metric.addReal(take(real)));
          assert.ok(metric.addFake(take(fake)));
        });
      }
      tf.dispose([real, fake]);
      const got = metric.compute();
      assert.deepEqual(got.resolutions, c.resolutions, `${c.id}: resolutions`);
      tf.tidy(() =>
        assertClose(tf.tensor1d(got.distances), c.distances, { what: `${c.id}: distances` }),
      );
      assertClose(got.avg, c.avg, { what: `${c.id}: avg` });
    }
  });
});

/** `count` shapes-dataset images from `first` on, NHWC in [0, 255]. */
function shapes(dataset: ReturnType<typeof shapesDataset>, first: number, count: number) {
  const indices = Array.from({ length: count }, (_, i) => first + i);
  return tf.tidy(() => tf.mul(tf.add(dataset.batch(indices), 1), 127.5) as tf.Tensor4D);
}

describe('SlicedWassersteinDistance', () => {
  test("MMagic's levels: h, h/2, … while ≥ 16, at most 4", () => {
    assert.deepEqual(swdResolutions(16), [16]);
    assert.deepEqual(swdResolutions(32), [32, 16]);
    assert.deepEqual(swdResolutions(64), [64, 32, 16]);
    assert.deepEqual(swdResolutions(1024), [1024, 512, 256, 128]);
    assert.deepEqual(swdResolutions(15), []);
  });

  test('the Laplacian pyramid of a constant image: zero detail, the constant at the coarsest level inside', () => {
    tf.tidy(() => {
      const [fine, coarse] = laplacianPyramid(tf.fill([1, 32, 32, 3], 0.5) as tf.Tensor4D, 2);
      assert.deepEqual(coarse.shape, [1, 16, 16, 3]);
      // Away from the zero-padded border, blurring a constant keeps it.
      assertClose(tf.slice(coarse, [0, 2, 2, 0], [1, 12, 12, 3]), tf.fill([1, 12, 12, 3], 0.5));
      assertClose(tf.slice(fine, [0, 8, 8, 0], [1, 16, 16, 3]), tf.zeros([1, 16, 16, 3]));
    });
  });

  test('shapes: two disjoint real halves are closer than real and noise, at every level', () => {
    const data = shapesDataset(32, 32, 11);
    const [a, b] = [shapes(data, 0, 16), shapes(data, 16, 16)];
    const noise = tf.randomUniform([16, 32, 32, 3], 0, 255, 'float32', 3);
    const floor = slicedWassersteinDistance(a, b, { seed: 1 });
    const far = slicedWassersteinDistance(a, noise, { seed: 1 });
    tf.dispose([a, b, noise]);
    for (let i = 0; i < 2; i++) {
      assert.ok(
        floor.distances[i] < far.distances[i],
        `level ${i}: ${floor.distances[i]} vs ${far.distances[i]}`,
      );
    }
    assert.ok(floor.avg < far.avg);
  });

  test('a seed repeats the value; batches and one call agree; identical sets give 0', () => {
    const x = proceduralImage([4, 16, 16, 3], { seed: 2, amp: 100 });
    const y = proceduralImage([4, 16, 16, 3], { seed: 3, amp: 40 });
    const once = slicedWassersteinDistance(x, y, { seed: 9 });
    assert.deepEqual(slicedWassersteinDistance(x, y, { seed: 9 }), once);
    assert.notDeepEqual(slicedWassersteinDistance(x, y, { seed: 10 }).distances, once.distances);
    const batched = new SlicedWassersteinDistance({ image_shape: [3, 16, 16], seed: 9 });
    tf.tidy(() => {
      batched.addReal(tf.slice(x, 0, 2));
      batched.addReal(tf.slice(x, 2, 2));
      batched.addFake(tf.slice(y, 0, 2));
      batched.addFake(tf.slice(y, 2, 2));
    });
    assert.equal(batched.compute().distances.length, 1);
    // Same images, different patches: the distance of a set to itself is the sampling noise;
    // the same patches (the same draws) give exactly 0.
    const same = new SlicedWassersteinDistance({
      image_shape: [3, 16, 16],
      random: {
        integers: (count, low) => new Int32Array(count).fill(low),
        normals: seededSwdSource(1).normals,
      },
    });
    same.addReal(x);
    same.addFake(x);
    assert.deepEqual(same.compute().distances, [0]);
    tf.dispose([x, y]);
  });

  test('fake_nums: batches after the limit are skipped; reset empties the sets', () => {
    const metric = buildMetric({ type: 'SWD', fake_nums: 2, image_shape: [1, 16, 16] });
    const x = proceduralImage([2, 16, 16, 1], { seed: 1, amp: 50 });
    assert.ok(metric.addReal(x));
    assert.equal(metric.addReal(x), false);
    assert.deepEqual(metric.numImages, { real: 2, fake: 0 });
    metric.reset();
    assert.deepEqual(metric.numImages, { real: 0, fake: 0 });
    x.dispose();
  });

  test('a constant image set is finite (MMagic: NaN from a zero standard deviation)', () => {
    const x = proceduralImage([2, 16, 16, 3], { seed: 1, amp: 50 });
    const flat = tf.fill([2, 16, 16, 3], 128);
    const r = slicedWassersteinDistance(x, flat);
    assert.ok(Number.isFinite(r.avg) && r.avg > 0, String(r.avg));
    tf.dispose([x, flat]);
  });

  test('no tensors leak', () => {
    const x = proceduralImage([2, 32, 32, 3], { seed: 1, amp: 50 });
    const metric = new SlicedWassersteinDistance({
      image_shape: [3, 32, 32],
      nhoods_per_image: 8,
      dir_repeats: 1,
      dirs_per_repeat: 4,
    });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      metric.addReal(x);
      metric.addFake(x);
      metric.compute();
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  test('bad inputs and options: errors naming the metric and the argument', () => {
    const x = tf.zeros([2, 32, 32, 3]);
    const small = tf.zeros([2, 16, 16, 3]);
    const negative = tf.fill([1, 32, 32, 3], -1);
    const grey = tf.zeros([2, 32, 32, 1]);
    const metric = new SlicedWassersteinDistance({ image_shape: [3, 32, 32] });
    const failsWith = (
      call: () => unknown,
      type: new (...args: never[]) => Error,
      pattern: RegExp,
    ) => assertFailsWithoutLeak(call, (e) => e instanceof type && pattern.test(e.message));
    failsWith(
      () => metric.addReal(small),
      ShapeError,
      /SlicedWassersteinDistance.addReal: 'images' must be N×32×32×3/,
    );
    failsWith(
      () => metric.addFake(negative),
      ShapeError,
      /addFake: 'images' must be an image in \[0, 255\].*\(x \+ 1\) · 127\.5/,
    );
    failsWith(() => metric.compute(), ShapeError, /0 real and 0 fake/);
    metric.addReal(x);
    failsWith(() => metric.compute(), ShapeError, /2 real and 0 fake/);
    failsWith(
      () => new SlicedWassersteinDistance({ image_shape: [3, 8, 8] }),
      ConfigError,
      /'image_shape' \[3,8,8\]: H must be at least 16/,
    );
    failsWith(
      () => new SlicedWassersteinDistance({ image_shape: [3, 32, 12] }),
      ConfigError,
      /'image_shape' \[3,32,12\]: H and W must be divisible by 2 \(levels 32, 16\)/,
    );
    failsWith(
      () => new SlicedWassersteinDistance({ image_shape: [4, 32, 32] }),
      ConfigError,
      /'image_shape' must be \[C, H, W\] with C 1 or 3 \(MMagic's CHW order\), got \[4,32,32\]/,
    );
    failsWith(
      () => new SlicedWassersteinDistance({ image_shape: [3, 32, 32], nhood_size: 4 }),
      ConfigError,
      /'nhood_size' must be an odd positive integer, got 4/,
    );
    failsWith(
      () => slicedWassersteinDistance(x, grey),
      ShapeError,
      /addFake: 'images' must be N×32×32×3/,
    );
    failsWith(
      () => buildMetric({ type: 'SWD', image_shape: [3, 32, 32] }),
      ConfigError,
      /buildMetric: option 'fake_nums' must be a number/,
    );
    failsWith(
      () => buildMetric({ type: 'SWDD', fake_nums: 4 } as never),
      ConfigError,
      /buildMetric: option 'type' must be one of 'PSNR'\|'SSIM'\|'SWD'.*got 'SWDD'\. Did you mean 'SWD'/,
    );
    tf.dispose([x, small, negative, grey]);
  });
});

test('Float32Sorter sorts as Float32Array.prototype.sort: negatives, ±0, ties, subnormals, ±Infinity, reused across lengths', () => {
  const sorter = new Float32Sorter(4096);
  const random = new Mulberry32(7);
  for (const n of [0, 1, 2, 17, 4096]) {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++)
      values[i] = (random.next() - 0.5) * 10 ** Math.floor(random.next() * 8 - 4);
    const specials = [-0, 0, 0, -0, 1e-42, -1e-42, Infinity, -Infinity, 3.5, 3.5, -3.5];
    for (let i = 0; i < Math.min(n, specials.length); i++) values[(i * 7) % n] = specials[i];
    const want = values.slice().sort();
    const got = sorter.sort(values);
    assert.equal(got, values, 'in place');
    for (let i = 0; i < n; i++)
      assert.ok(Object.is(got[i], want[i]), `n=${n} at ${i}: ${got[i]} vs ${want[i]}`);
  }
  assert.deepEqual(
    Array.from(sorter.sort(new Float32Array([2, -1, -0, 0, -2]))),
    [-2, -1, -0, 0, 2],
  );
});
