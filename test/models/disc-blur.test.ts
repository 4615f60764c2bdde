import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, GANWithCustomizedLoss, GenlossError } from '../../src/index.ts';
import {
  blurRadius,
  blurSigma,
  discriminatorBlur,
  discriminatorBlurFilter,
} from '../../src/models/disc-blur.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { type RefTensor, readReference, toTensor } from '../helpers/reference.ts';
import { assertClose, assertNoLeak } from '../helpers/tensors.ts';
import { tinyDiscriminator, tinyGenerator } from '../helpers/tiny-gan.ts';

before(useTestBackend);

interface BlurCase {
  id: string;
  sigma: number;
  blur_size: number;
  filter: number[];
  x: RefTensor;
  output: RefTensor;
  cotangent: RefTensor;
  grad: RefTensor;
}

interface ScheduleCase {
  iteration: number;
  batch_size: number;
  blur_init_sigma: number;
  blur_fade_kimg: number;
  sigma: number;
}

const reference = readReference<{ cases: BlurCase[]; schedule: ScheduleCase[] }>('disc_blur.json');

describe('StyleGAN3 blur schedule and filter', () => {
  test('blurSigma matches StyleGAN3 (cur_nimg = iteration · batch size) exactly', () => {
    assert.equal(reference.schedule.length, 11);
    for (const c of reference.schedule) {
      const got = blurSigma(c.iteration, c.batch_size, c.blur_init_sigma, c.blur_fade_kimg);
      assert.equal(got, c.sigma, JSON.stringify(c));
    }
  });

  test('the filter is StyleGAN3’s 2^(−(i/σ)²), normalised, radius ⌊3σ⌋', () => {
    assert.equal(reference.cases.length, 5);
    for (const c of reference.cases) {
      assert.equal(blurRadius(c.sigma), c.blur_size, c.id);
      const f = discriminatorBlurFilter(c.sigma);
      assert.equal(f.length, c.filter.length, c.id);
      for (const [i, v] of f.entries()) {
        assert.ok(Math.abs(v - c.filter[i]) <= 1e-15, `${c.id}: tap ${i}`);
      }
    }
  });

  test('invalid sigma and inputs are errors', () => {
    const x = tf.zeros([1, 4, 4, 1]);
    for (const sigma of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => discriminatorBlur(x, sigma), GenlossError);
    }
    const flat = tf.zeros([4, 4]);
    assert.throws(() => discriminatorBlur(flat, 1), GenlossError);
    tf.dispose([x, flat]);
  });
});

describeOnEachBackend('discriminatorBlur against PyTorch', () => {
  for (const c of reference.cases) {
    test(`${c.id}: output and input gradient`, () => {
      const x = toTensor(c.x);
      const cot = toTensor(c.cotangent);
      const out = discriminatorBlur(x, c.sigma);
      assertClose(out, toTensor(c.output), { what: `${c.id} output` });
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(discriminatorBlur(v, c.sigma), cot)))(x);
      assertClose(grad, toTensor(c.grad), { what: `${c.id} grad` });
      tf.dispose([x, cot, out, grad]);
    });
  }

  test('no tensor leaks (forward and gradient)', () => {
    const x = tf.randomUniform([2, 9, 7, 3], -1, 1, 'float32', 3);
    assertNoLeak(() => discriminatorBlur(x, 2.7), 10);
    assertNoLeak(() => discriminatorBlur(x, 0.2), 10);
    assertNoLeak(
      () => tf.grad((v: tf.Tensor) => tf.sum(tf.square(discriminatorBlur(v, 1))))(x),
      10,
    );
    x.dispose();
  });
});

/** A tiny discriminator that keeps a copy of every input it gets, and a generator that keeps its renders. */
function spiedModel(extra: Record<string, unknown>) {
  const generator = tinyGenerator();
  const discriminator = tinyDiscriminator();
  const seen: tf.Tensor[] = [];
  const rendered: tf.Tensor[] = [];
  const adam = { type: 'Adam', lr: 0.01, betas: [0.0, 0.99] };
  const model = new GANWithCustomizedLoss({
    generator: {
      ...generator,
      synthesis: (latent: tf.Tensor) => {
        const images = generator.synthesis(latent);
        rendered.push(tf.keep(images.clone()));
        return images;
      },
    },
    discriminator: {
      ...discriminator,
      apply: (x: tf.Tensor) => {
        seen.push(tf.keep(x.clone()));
        return discriminator.apply(x);
      },
    },
    loss_config: {},
    optimizers: { generator: adam, discriminator: adam },
    ...extra,
  });
  const clear = () => tf.dispose(seen.splice(0).concat(rendered.splice(0)));
  const free = () => {
    clear();
    model.dispose();
    tf.dispose([...generator.variables, ...discriminator.variables]);
  };
  return { model, seen, rendered, clear, free };
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Asserts every input D saw is `blur(image, sigma)` (exactly `image` when sigma is 0) for a real or rendered batch. */
function assertInputsAre(seen: tf.Tensor[], images: tf.Tensor[], sigma: number, what: string) {
  assert.ok(seen.length >= 3, `${what}: D called ${seen.length} times`);
  const want = images.map((t) => (sigma > 0 ? discriminatorBlur(t, sigma) : t));
  for (const [i, input] of seen.entries()) {
    const best = Math.min(...want.map((w) => maxAbsDiff(input, w)));
    assert.ok(sigma > 0 ? best <= 1e-6 : best === 0, `${what}: D input ${i} is off by ${best}`);
    if (sigma > 0) {
      // …and not the unblurred image.
      assert.ok(Math.min(...images.map((t) => maxAbsDiff(input, t))) > 1e-3, `${what}: input ${i}`);
    }
  }
  if (sigma > 0) tf.dispose(want);
}

describe('GANWithCustomizedLoss with blur_init_sigma / blur_fade_kimg', () => {
  test('the discriminator sees blurred inputs (also inside R1) until the blur fades, then the images', async () => {
    // Batch 2, fade over 6 images: σ = 2, 4/3, 2/3 at iterations 0–2, then 0.
    const { model, seen, rendered, clear, free } = spiedModel({
      blur_init_sigma: 2,
      blur_fade_kimg: 0.006,
    });
    const real = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);
    const sigmas = [2, 4 / 3, 2 / 3, 0, 0];
    for (const [step, sigma] of sigmas.entries()) {
      const log = await model.trainStep({ real_imgs: real });
      assert.ok(
        Math.abs(model.discBlurSigma - sigma) < 1e-12,
        `step ${step}: σ ${model.discBlurSigma}`,
      );
      if (step === 0) assert.ok('loss_r1_gp' in log, 'R1 runs at iteration 0');
      // R1 (iteration 0) calls D once more on the real batch.
      if (step === 0) assert.equal(seen.length, 4);
      assertInputsAre(seen, [real, ...rendered], sigma, `step ${step}`);
      clear();
    }
    real.dispose();
    free();
  });

  test('defaults: no blur, the discriminator sees the images themselves', async () => {
    const { model, seen, rendered, clear, free } = spiedModel({});
    assert.equal(model.cfg.blur_init_sigma, 0);
    assert.equal(model.cfg.blur_fade_kimg, 0);
    const real = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);
    for (let step = 0; step < 2; step++) {
      await model.trainStep({ real_imgs: real });
      assert.equal(model.discBlurSigma, 0);
      assertInputsAre(seen, [real, ...rendered], 0, `step ${step}`);
      clear();
    }
    real.dispose();
    free();
  });

  test('blur_init_sigma without blur_fade_kimg is off (StyleGAN3: fade 0 → σ 0)', async () => {
    const { model, seen, rendered, clear, free } = spiedModel({ blur_init_sigma: 10 });
    const real = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);
    await model.trainStep({ real_imgs: real });
    assertInputsAre(seen, [real, ...rendered], 0, 'fade 0');
    clear();
    real.dispose();
    free();
  });

  test('negative or non-numeric values are ConfigErrors', () => {
    const adam = { type: 'Adam', lr: 0.01 };
    for (const bad of [
      { blur_init_sigma: -1 },
      { blur_fade_kimg: -0.5 },
      { blur_fade_kimg: '1' },
    ]) {
      const generator = tinyGenerator();
      const discriminator = tinyDiscriminator();
      assert.throws(
        () =>
          new GANWithCustomizedLoss({
            generator,
            discriminator,
            loss_config: {},
            optimizers: { generator: adam, discriminator: adam },
            ...(bad as unknown as Record<string, number>),
          }),
        ConfigError,
      );
      tf.dispose([...generator.variables, ...discriminator.variables]);
    }
  });

  test('no tensor leaks per blurred step', async () => {
    const { model, clear, free } = spiedModel({ blur_init_sigma: 2, blur_fade_kimg: 1 });
    const real = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);
    await model.trainStep({ real_imgs: real });
    clear();
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await model.trainStep({ real_imgs: real });
      clear();
    }
    assert.ok(model.discBlurSigma > 1.9);
    assert.equal(tf.memory().numTensors, count);
    real.dispose();
    free();
  });
});
