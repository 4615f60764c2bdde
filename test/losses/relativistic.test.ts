/**
 * RelativisticGANLoss (src/losses/relativistic.ts): the PyTorch reference cases of
 * test/reference/relativistic.json (generate_relativistic.py) on each backend, closed forms,
 * errors, memory, and a GANWithCustomizedLoss trained with it (src/models/gan-with-customized-loss.ts).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  chooseBackend,
  GANWithCustomizedLoss,
  isRelativisticGanLoss,
  LOSSES,
  RelativisticGANLoss,
  relativisticGanLoss,
  ShapeError,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { checkRelativisticCase, type RelativisticCase } from '../helpers/gan-cases.ts';
import { loadCases } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak } from '../helpers/tensors.ts';
import { tinyDiscriminator, tinyGenerator } from '../helpers/tiny-gan.ts';

const cases = loadCases<RelativisticCase>('relativistic.json');

describeOnEachBackend('relativistic.json PyTorch reference cases', () => {
  for (const ganType of ['vanilla', 'lsgan', 'hinge', 'wgan']) {
    for (const mode of ['average', 'pairwise']) {
      const some = cases.filter(
        (c) => c.config.gan_type === ganType && c.config.relativistic === mode,
      );
      test(`${ganType} × ${mode}: ${some.length} cases (disc and gen)`, () => {
        assert.ok(some.length >= 4);
        for (const c of some) tf.tidy(() => checkRelativisticCase(c));
      });
    }
  }
});

describe('RelativisticGANLoss', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  test('the reference file covers vanilla/lsgan/hinge/wgan × average/pairwise × disc/gen', () => {
    assert.equal(cases.length, 40);
    for (const t of ['vanilla', 'lsgan', 'hinge', 'wgan']) {
      for (const m of ['average', 'pairwise']) {
        for (const d of [true, false]) {
          const n = cases.filter(
            (c) => c.config.gan_type === t && c.config.relativistic === m && c.call.is_disc === d,
          ).length;
          assert.equal(n, m === 'average' ? 3 : 2, `${t} ${m} ${d}`);
        }
      }
    }
  });

  test('closed forms: D(real) = 1, D(fake) = 0', () => {
    tf.tidy(() => {
      const r = tf.ones([3, 1]);
      const f = tf.zeros([3, 1]);
      const sp = Math.log1p(Math.exp(-1));
      const build = (gan_type: string, relativistic = 'average') =>
        new RelativisticGANLoss({
          gan_type: gan_type as 'vanilla',
          relativistic: relativistic as 'average',
          loss_weight: 2,
        });
      assertClose(build('vanilla').forward(r, f, true), 2 * sp, { atol: 1e-6 });
      assertClose(build('lsgan').forward(r, f, true), 0, { atol: 1e-7 });
      assertClose(build('lsgan').forward(r, f, false), 2 * 8, { atol: 1e-5 }); // loss_weight 2
      assertClose(build('hinge', 'pairwise').forward(r, f, true), 0, { atol: 1e-7 });
      assertClose(build('hinge', 'pairwise').forward(r, f, false), 2 * 2, { atol: 1e-6 });
      // wgan-logistic-ns has the same terms as vanilla.
      const x = tf.tensor2d([[0.3], [-1.2]]);
      const y = tf.tensor2d([[0.7], [0.1], [-0.4]]);
      for (const d of [true, false]) {
        assertClose(build('wgan-logistic-ns').forward(x, y, d), build('vanilla').forward(x, y, d), {
          atol: 1e-7,
          rtol: 1e-7,
        });
      }
    });
  });

  test('is detected by the model as relativistic; GANLossComps is not', () => {
    const rel = LOSSES.build({ type: 'RelativisticGANLoss', gan_type: 'hinge' });
    assert.ok(isRelativisticGanLoss(rel));
    assert.equal(rel.cfg.relativistic, 'average');
    assert.equal(rel.lossName(), 'loss_gan');
    assert.ok(!isRelativisticGanLoss(LOSSES.build({ type: 'GANLossComps', gan_type: 'hinge' })));
  });

  test('bad configs and arguments are clear errors', () => {
    const isConfig = (re: RegExp) => (e: Error) => e instanceof ConfigError && re.test(e.message);
    assert.throws(
      () => LOSSES.build({ type: 'RelativisticGANLoss', gan_type: 'l1' }),
      isConfig(/RelativisticGANLoss: 'gan_type' must be one of .*'hinge'.*got 'l1'.*GANLoss/),
    );
    assert.throws(
      () => LOSSES.build({ type: 'RelativisticGANLoss', gan_type: 'smgan' }),
      isConfig(/'gan_type'/),
    );
    assert.throws(() => LOSSES.build({ type: 'RelativisticGANLoss' }), isConfig(/gan_type/));
    assert.throws(
      () => LOSSES.build({ type: 'RelativisticGANLoss', gan_type: 'vanilla', relativistic: 'avg' }),
      isConfig(/relativistic/),
    );
    assert.throws(
      () => LOSSES.build({ type: 'RelativisticGANLoss', gan_type: 'vanilla', reduction: 'sum' }),
      isConfig(/reduction/),
    );
    const pairwise = new RelativisticGANLoss({ gan_type: 'lsgan', relativistic: 'pairwise' });
    const a = tf.zeros([4, 1]);
    const b = tf.zeros([3, 1]);
    assertFailsWithoutLeak(
      () => pairwise.forward(a, b, true),
      (e) => e instanceof ShapeError && /same shape, got \[4, 1\] and \[3, 1\]/.test(e.message),
    );
    const average = new RelativisticGANLoss({ gan_type: 'lsgan' });
    assertFailsWithoutLeak(
      () => average.forward(a, [1, 2] as unknown as tf.Tensor, true),
      (e) => e instanceof ShapeError && /'predFake' must be a tf.Tensor/.test(e.message),
    );
    assert.throws(
      () =>
        relativisticGanLoss(a, a, {
          gan_type: 'vanilla',
          relativistic: 'pair' as 'pairwise',
        }),
      isConfig(/'relativistic' must be one of 'average'\|'pairwise'/),
    );
    assert.throws(
      () =>
        relativisticGanLoss(a, a, { gan_type: 'vanilla', is_disc: 'yes' as unknown as boolean }),
      isConfig(/'is_disc' must be true or false/),
    );
    tf.dispose([a, b]);
  });

  test('no leaks: forward, terms and gradients', () => {
    const r = tf.randomNormal([4, 1], 0, 1, 'float32', 1);
    const f = tf.randomNormal([4, 1], 0, 1, 'float32', 2);
    for (const relativistic of ['average', 'pairwise'] as const) {
      const loss = new RelativisticGANLoss({ gan_type: 'hinge', relativistic, loss_weight: 0.5 });
      for (const d of [true, false]) {
        assertNoLeak(() => loss.forward(r, f, d));
        assertNoLeak(() => {
          const t = loss.relativisticTerms(r, f, d);
          return [t.real, t.fake];
        });
        assertNoLeak(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => loss.forward(x, y, d))([r, f]));
      }
    }
    tf.dispose([r, f]);
  });
});

describe('GANWithCustomizedLoss with a RelativisticGANLoss', () => {
  before(useTestBackend);

  const adam = { type: 'Adam', lr: 0.01, betas: [0.0, 0.99] };

  test('trains 2 steps, logs the split D terms and the G term, and runs D on reals in the G phase', async () => {
    const net = tinyGenerator();
    const rendered: tf.Tensor[] = [];
    const generator = {
      ...net,
      synthesis: (latent: tf.Tensor) => {
        const images = net.synthesis(latent);
        rendered.push(tf.keep(images.clone()));
        return images;
      },
    };
    const base = tinyDiscriminator();
    let discCalls = 0;
    const discriminator = {
      ...base,
      apply: (x: tf.Tensor) => {
        discCalls += 1;
        return base.apply(x);
      },
    };
    const twin = tinyDiscriminator(); // the initial D's weights (same seeds)
    const model = new GANWithCustomizedLoss({
      generator,
      discriminator,
      gan_loss: { type: 'RelativisticGANLoss', gan_type: 'vanilla', loss_weight: 0.5 },
      optimizers: { generator: adam, discriminator: adam },
    });
    const loss = model.ganLoss as RelativisticGANLoss;
    assert.ok(isRelativisticGanLoss(loss));
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);

    const log = await model.trainStep({ real_imgs: x });
    assert.deepEqual(Object.keys(log), [
      'loss',
      'loss_disc_fake',
      'loss_disc_real',
      'loss_disc_fake_g',
    ]);
    assert.equal(discCalls, 4, 'D phase: fake and real; G phase: fake and real');
    const close = { atol: 1e-6, rtol: 1e-5 };
    tf.tidy(() => {
      // D phase: the initial D on G's first batch and the reals; the sum is the D loss.
      const d = loss.relativisticTerms(twin.apply(x), twin.apply(rendered[0]), true);
      assertClose(log.loss_disc_real, d.real, { ...close, what: 'loss_disc_real' });
      assertClose(log.loss_disc_fake, d.fake, { ...close, what: 'loss_disc_fake' });
      assertClose(log.loss, log.loss_disc_real + log.loss_disc_fake, close);
      // G phase: the updated D on G's second batch and the reals, times loss_weight 0.5.
      const g = loss.forward(base.apply(x), base.apply(rendered[1]), false);
      assertClose(log.loss_disc_fake_g, g, { ...close, what: 'loss_disc_fake_g' });
    });

    const count = tf.memory().numTensors;
    const log2 = await model.trainStep({ real_imgs: x });
    assert.equal(tf.memory().numTensors, count + 2, 'only the two recorded batches remain');
    assert.deepEqual(Object.keys(log2), Object.keys(log));
    for (const v of Object.values(log2)) assert.ok(Number.isFinite(v));
    assert.equal(discCalls, 8);

    tf.dispose(rendered);
    x.dispose();
    model.dispose();
    tf.dispose([...base.variables, ...twin.variables, ...net.variables]);
  });

  test('pairwise hinge with a StyleGAN2 loss_config: G term under loss_gen, no leak', async () => {
    const generator = tinyGenerator();
    const discriminator = tinyDiscriminator();
    const model = new GANWithCustomizedLoss({
      generator,
      discriminator,
      gan_loss: { type: 'RelativisticGANLoss', gan_type: 'hinge', relativistic: 'pairwise' },
      loss_config: { r1_interval: 2, g_reg_interval: 2 },
      optimizers: { generator: adam, discriminator: adam },
    });
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 7);
    const log = await model.trainStep({ real_imgs: x });
    assert.deepEqual(Object.keys(log), [
      'loss',
      'loss_disc_fake',
      'loss_disc_real',
      'loss_r1_gp',
      'loss_gen',
      'loss_path_regular',
    ]);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) await model.trainStep({ real_imgs: x });
    assert.equal(tf.memory().numTensors, count);
    x.dispose();
    model.dispose();
    tf.dispose([...generator.variables, ...discriminator.variables]);
  });

  test('a bad relativistic gan_loss config fails when the model is built', () => {
    const generator = tinyGenerator();
    const discriminator = tinyDiscriminator();
    for (const gan_loss of [
      { type: 'RelativisticGANLoss', gan_type: 'smgan' },
      { type: 'RelativisticGANLoss', gan_type: 'vanilla', relativistic: 'both' },
    ]) {
      assert.throws(
        () =>
          new GANWithCustomizedLoss({
            generator,
            discriminator,
            gan_loss,
            optimizers: { generator: adam, discriminator: adam },
          }),
        (e) => e instanceof ConfigError && /RelativisticGANLoss/.test((e as Error).message),
      );
    }
    tf.dispose([...generator.variables, ...discriminator.variables]);
  });
});
