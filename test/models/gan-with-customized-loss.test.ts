import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  DataInfoError,
  type GANModelConfig,
  GANWithCustomizedLoss,
  type GeneratorPathRegularizerComps,
  NonFiniteLossError,
  parseConfig,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose } from '../helpers/tensors.ts';
import { tinyDiscriminator, tinyGenerator, valuesOf } from '../helpers/tiny-gan.ts';

before(useTestBackend);

const adam = { type: 'Adam', lr: 0.01, betas: [0.0, 0.99] };

function build(extra: Partial<GANModelConfig> = {}) {
  const generator = tinyGenerator();
  const discriminator = tinyDiscriminator();
  const model = new GANWithCustomizedLoss({
    generator,
    discriminator,
    gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
    disc_auxiliary_loss: [
      { type: 'DiscShiftLossComps', loss_weight: 0.001, data_info: { pred: 'disc_pred_real' } },
      {
        type: 'GradientPenaltyLossComps',
        loss_weight: 10,
        data_info: { discriminator: 'disc', real_data: 'real_imgs', fake_data: 'fake_imgs' },
      },
    ],
    optimizers: { generator: adam, discriminator: adam },
    ...extra,
  });
  const free = () => {
    model.dispose();
    tf.dispose([...generator.variables, ...discriminator.variables]);
  };
  return { model, generator, discriminator, free };
}

const real = () => tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);

/** A model from a StyleGAN2 `loss_config` alone, as MMagic's StyleGAN2 config gives it. */
function buildStyleGAN2(loss_config: Record<string, unknown>) {
  const generator = tinyGenerator();
  const discriminator = tinyDiscriminator();
  const model = new GANWithCustomizedLoss({
    generator,
    discriminator,
    loss_config,
    optimizers: { generator: adam, discriminator: adam },
  });
  const free = () => {
    model.dispose();
    tf.dispose([...generator.variables, ...discriminator.variables]);
  };
  return { model, free };
}

/** A {@link tinyGenerator} that keeps a copy of every batch its synthesis renders, in call order. */
function recordingGenerator() {
  const net = tinyGenerator();
  const rendered: tf.Tensor[] = [];
  const synthesis = (latent: tf.Tensor) => {
    const images = net.synthesis(latent);
    rendered.push(tf.keep(images.clone()));
    return images;
  };
  return { generator: { ...net, synthesis }, rendered };
}

/** The mean of a tensor's values. */
const meanOf = (t: tf.Tensor) => tf.tidy(() => tf.mean(t).dataSync()[0]);

/** Everything a failed step must leave alone. */
async function state(m: GANWithCustomizedLoss) {
  const opt = async (o: tf.Optimizer) =>
    Promise.all((await o.getWeights()).map(async (w) => Array.from(await w.tensor.data())));
  const buffers = [...m.discAuxiliaryLosses, ...m.genAuxiliaryLosses].flatMap((c) => c.buffers());
  return {
    g: valuesOf(m.generator.variables),
    d: valuesOf(m.discriminator.variables),
    buffers: valuesOf(buffers),
    optD: await opt(m.optimizers.discriminator),
    optG: await opt(m.optimizers.generator),
    iteration: m.iteration,
  };
}

describe('GANWithCustomizedLoss', () => {
  test("BaseGAN setup: a D+G step logs MMagic's BaseGAN keys and values, the G step against the updated D", async () => {
    const { generator, rendered } = recordingGenerator();
    const { model, free } = build({
      generator,
      gen_auxiliary_loss: {
        type: 'GeneratorPathRegularizerComps',
        loss_weight: 2,
        data_info: { generator: 'gen', num_batches: 'batch_size' },
      },
    });
    const initialD = tinyDiscriminator();
    const x = real();
    const before = await state(model);
    const log = await model.trainStep({ real_imgs: x });
    assert.deepEqual(Object.keys(log), [
      'loss',
      'loss_disc_fake',
      'loss_disc_real',
      'loss_disc_shift',
      'loss_gp',
      'loss_disc_fake_g',
      'loss_path_regular',
    ]);
    const sum = log.loss_disc_fake + log.loss_disc_real + log.loss_disc_shift + log.loss_gp;
    assert.ok(Math.abs(log.loss - sum) < 1e-5 * Math.abs(sum));
    // The D phase scores the first batch G rendered and the real one with the initial D: MMagic's
    // hinge terms mean relu(1 ± D(·)), and the shift term 0.001 · mean D(real)².
    const close = { atol: 1e-7, rtol: 1e-5 };
    tf.tidy(() => {
      const fake = initialD.apply(rendered[0]);
      const onReal = initialD.apply(x);
      assertClose(log.loss_disc_fake, meanOf(tf.relu(tf.add(1, fake))), close);
      assertClose(log.loss_disc_real, meanOf(tf.relu(tf.sub(1, onReal))), close);
      assertClose(log.loss_disc_shift, 0.001 * meanOf(tf.square(onReal)), close);
    });
    // The G phase scores G's second batch (G is not updated before it) with the D the D phase has
    // just updated: the generator's hinge term −mean D(fake). The initial D gives another value.
    const updated = -meanOf(model.discriminator.apply(rendered[1]));
    const stale = -meanOf(initialD.apply(rendered[1]));
    assertClose(log.loss_disc_fake_g, updated, close);
    assert.ok(Math.abs(updated - stale) > 1e-3 * Math.abs(updated), 'the D step changed D(fake)');
    const after = await state(model);
    assert.notDeepEqual(after.g, before.g);
    assert.notDeepEqual(after.d, before.d);
    assert.equal(model.iteration, 1);
    tf.dispose([x, rendered, initialD.variables, generator.variables]);
    free();
  });

  test("StyleGAN2 setup (loss_config): MMagic's StyleGAN2 keys, loss_gen for the generator", async () => {
    const { model, free } = buildStyleGAN2({ r1_interval: 2, g_reg_interval: 2 });
    const x = real();
    const keys: string[][] = [];
    for (let it = 0; it < 2; it++) keys.push(Object.keys(await model.trainStep({ real_imgs: x })));
    assert.deepEqual(keys, [
      ['loss', 'loss_disc_fake', 'loss_disc_real', 'loss_r1_gp', 'loss_gen', 'loss_path_regular'],
      ['loss', 'loss_disc_fake', 'loss_disc_real', 'loss_gen'],
    ]);
    assert.equal(model.genGanLossKey, 'loss_gen');
    x.dispose();
    free();
  });

  test("a StyleGAN2 loss_config alone builds MMagic's GAN loss (wgan-logistic-ns); without either, a ConfigError", () => {
    const { model, free } = buildStyleGAN2({});
    assert.equal(model.ganLoss.lossType, 'GANLossComps');
    assert.equal(model.ganLoss.cfg.gan_type, 'wgan-logistic-ns');
    assert.equal(model.ganLoss.lossWeight, 1);
    assert.deepEqual(
      model.discAuxiliaryLosses.map((c) => [c.lossType, c.lossWeight, c.interval]),
      [['R1GradientPenaltyComps', 80, 16]],
    );
    assert.deepEqual(
      model.genAuxiliaryLosses.map((c) => [c.lossType, c.lossWeight, c.interval]),
      [['GeneratorPathRegularizerComps', 8, 4]],
    );
    free();
    assert.throws(
      () => build({ gan_loss: null }),
      (e: Error) =>
        e instanceof ConfigError &&
        /GANWithCustomizedLoss: option 'gan_loss' must be a loss config .* when there is no loss_config/.test(
          e.message,
        ),
    );
  });

  test('no tensor leaks per step', async () => {
    const { model, free } = build({ loss_config: { r1_interval: 2, g_reg_interval: 2 } });
    const x = real();
    await model.trainStep({ real_imgs: x });
    const count = tf.memory().numTensors;
    for (let i = 0; i < 6; i++) await model.trainStep({ real_imgs: x });
    assert.equal(tf.memory().numTensors, count);
    x.dispose();
    free();
  });

  test('a step TF.js rejects after the losses ran (no variable reaches G loss) leaks nothing', async () => {
    const generator = tinyGenerator();
    const discriminator = tinyDiscriminator();
    // Images that ignore G's weights: the D phase trains, the G phase has no gradient path.
    const detached = {
      ...generator,
      synthesis: (latent: tf.Tensor) => tf.tanh(tf.zeros([latent.shape[0], 8, 8, 3])),
    };
    const model = new GANWithCustomizedLoss({
      generator: detached,
      discriminator,
      gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
      optimizers: { generator: adam, discriminator: adam },
    });
    const x = real();
    await assert.rejects(model.trainStep({ real_imgs: x }));
    const count = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await assert.rejects(model.trainStep({ real_imgs: x }));
    assert.equal(tf.memory().numTensors, count);
    x.dispose();
    model.dispose();
    tf.dispose([...generator.variables, ...discriminator.variables]);
  });

  test('lazy intervals over iterations 0..16: which regularisers ran, with which weights', async () => {
    const { model, free } = build({
      disc_auxiliary_loss: null,
      loss_config: { r1_interval: 4, r1_loss_weight: 20, g_reg_interval: 3, g_reg_weight: 6 },
    });
    const [r1] = model.discAuxiliaryLosses;
    const [pl] = model.genAuxiliaryLosses;
    assert.equal(r1.lossWeight, 20);
    assert.equal(pl.lossWeight, 6);
    const x = real();
    const ran: { r1: number[]; pl: number[] } = { r1: [], pl: [] };
    for (let it = 0; it <= 16; it++) {
      const log = await model.trainStep({ real_imgs: x });
      if ('loss_r1_gp' in log) ran.r1.push(it);
      if ('loss_path_regular' in log) ran.pl.push(it);
    }
    assert.deepEqual(ran.r1, [0, 4, 8, 12, 16]);
    assert.deepEqual(ran.pl, [0, 3, 6, 9, 12, 15]);
    x.dispose();
    free();
  });

  test("MMagic's StyleGAN2 loss_config (configs/_base_/models/base_styleganv2.py), from YAML", async () => {
    const cfg = parseConfig(
      readFileSync(
        new URL('../../examples/custom-loss/stylegan2-loss-config.yaml', import.meta.url),
        'utf8',
      ),
      'yaml',
    ) as Record<string, unknown>;
    const { model, free } = buildStyleGAN2(cfg.loss_config as Record<string, unknown>);
    assert.deepEqual(Object.keys(cfg), ['loss_config']);
    const [r1] = model.discAuxiliaryLosses;
    const [pl] = model.genAuxiliaryLosses as GeneratorPathRegularizerComps[];
    assert.deepEqual(
      {
        weight: r1.lossWeight,
        interval: r1.interval,
        norm: (r1.cfg as { norm_mode: string }).norm_mode,
      },
      { weight: 80, interval: 16, norm: 'HWC' },
    );
    assert.deepEqual(
      { weight: pl.lossWeight, interval: pl.interval, shrink: pl.cfg.pl_batch_shrink },
      { weight: 8, interval: 4, shrink: 2 },
    );
    assert.equal(model.ganLoss.cfg.gan_type, 'wgan-logistic-ns');
    free();
  });

  test('lazy_reg_correction scales Adam as StyleGAN2-ADA: lr·r, β1^r, β2^r with r = k/(k+1)', () => {
    // β1 = 0.5, not StyleGAN2's 0, whose every power is 0 and would hide a missing β1 correction.
    const { model, free } = build({
      disc_auxiliary_loss: null,
      loss_config: {},
      lazy_reg_correction: true,
      optimizers: {
        generator: { type: 'Adam', lr: 0.002, betas: [0.5, 0.99] },
        discriminator: { type: 'Adam', lr: 0.002, betas: [0.5, 0.99] },
      },
    });
    type AdamConfig = { learningRate: number; beta1: number; beta2: number };
    for (const [phase, r] of [
      ['discriminator', 16 / 17],
      ['generator', 4 / 5],
    ] as const) {
      const cfg = model.optimizers[phase].getConfig() as AdamConfig;
      assert.deepEqual(
        [cfg.learningRate, cfg.beta1, cfg.beta2].map((v) => v.toPrecision(12)),
        [0.002 * r, 0.5 ** r, 0.99 ** r].map((v) => v.toPrecision(12)),
        phase,
      );
    }
    free();
  });

  test('a step that throws leaves weights, optimizer state and buffers untouched', async () => {
    const { model, free } = build({
      gen_auxiliary_loss: [
        {
          type: 'GeneratorPathRegularizerComps',
          data_info: { generator: 'gen', num_batches: 'batch_size' },
        },
        {
          type: 'DiscShiftLossComps',
          loss_name: 'loss_g_shift',
          data_info: { pred: 'missing_output' },
        },
      ],
    });
    const x = real();
    await assert.rejects(model.trainStep({ real_imgs: x }), DataInfoError);
    const before = await state(model);
    // The first step also failed in the generator phase, after the discriminator had been updated.
    assert.deepEqual(before.optD.length, 1, 'the discriminator optimizer holds no moments');
    await assert.rejects(
      model.trainStep({ real_imgs: x }),
      (e: Error) =>
        e instanceof DataInfoError &&
        /needs output 'missing_output'.*Available: .*disc_pred_fake_g/.test(e.message),
    );
    assert.deepEqual(await state(model), before);
    x.dispose();
    free();
  });

  test('a non-finite loss is undone and named; with skip_nonfinite the step is skipped', async () => {
    const nan = tf.fill([2, 8, 8, 3], Number.NaN);
    for (const skip of [false, true]) {
      const { model, free } = build({ skip_nonfinite: skip });
      const x = real();
      await model.trainStep({ real_imgs: x });
      const before = await state(model);
      if (skip) {
        const log = await model.trainStep({ real_imgs: nan });
        assert.equal(log.skipped, 1);
        assert.ok(Number.isNaN(log.loss_disc_real));
        const after = await state(model);
        assert.deepEqual({ ...after, iteration: 0 }, { ...before, iteration: 0 });
        assert.equal(after.iteration, before.iteration + 1);
      } else {
        await assert.rejects(
          model.trainStep({ real_imgs: nan }),
          (e: Error) =>
            e instanceof NonFiniteLossError &&
            e.message ===
              "GANWithCustomizedLoss: discriminator loss 'loss_disc_real' is NaN (not finite); the step was undone",
        );
        assert.deepEqual(await state(model), before);
      }
      x.dispose();
      free();
    }
    nan.dispose();
  });

  test('a data_info key that is no argument of the loss fails when the model is built', () => {
    assert.throws(
      () =>
        build({
          disc_auxiliary_loss: {
            type: 'GradientPenaltyLossComps',
            data_info: { discriminator: 'disc', real: 'real_imgs', fake_data: 'fake_imgs' },
          },
        }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "GradientPenaltyLossComps: data_info key 'real' is not an argument of the loss; expected one of: discriminator, real_data, fake_data, mask, alpha",
    );
  });

  test('bad configs are ConfigErrors naming the part', () => {
    assert.throws(
      () => build({ disc_auxiliary_loss: { type: 'L1Loss' } }),
      (e: Error) =>
        e instanceof ConfigError &&
        /disc_auxiliary_loss 'L1Loss' is not a data_info component/.test(e.message),
    );
    assert.throws(
      () => build({ gen_auxiliary_loss: { type: 'CLIPLoss' } }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message.endsWith(
          "gen_auxiliary_loss 'CLIPLoss' is not a data_info component: use 'CLIPLossComps', the component that wraps it (same keys plus data_info)",
        ),
    );
    assert.throws(
      () => build({ disc_auxiliary_loss: { type: 'DiscShiftLossComps' } }),
      /'DiscShiftLossComps' needs data_info/,
    );
    assert.throws(
      () => build({ optimizers: { generator: { type: 'Adamw' }, discriminator: adam } }),
      /optimizers\.generator: 'type' must be one of Adam\|SGD\|RMSprop, got 'Adamw'\. Did you mean 'Adam'\?/,
    );
    assert.throws(
      () => build({ gan_loss: { type: 'GANLossComps', gan_type: 'smgan' } }),
      ConfigError,
    );
    assert.throws(
      () => build({ generator_steps: 0 }),
      /option 'generator_steps' must be >= 1, got 0/,
    );
  });
});
