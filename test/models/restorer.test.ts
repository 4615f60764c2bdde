/**
 * The restorers of src/models/restorer.ts (MMagic's BaseEditModel, SRGAN, ESRGAN) on a tiny
 * MSRResNet (×2) and DCGAN discriminator: each step's log keys and values, and the weights after
 * one SGD step, against the same step recomputed here with plain TF.js ops on untrained twins of
 * the networks; the phase order and `train_cfg` gating; atomic steps; no leaks; bad configs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '../../src/autodiff/stop-gradient.ts';
import { ConfigError } from '../../src/core/errors.ts';
import type { ImageBatch } from '../../src/models/image-to-image.ts';
import { LOSS_ROLES } from '../../src/models/loss-roles.ts';
import { Restorer } from '../../src/models/restorer.ts';
import { buildNet } from '../../src/train/architectures.ts';
import { useTestBackend } from '../helpers/backend.ts';
import {
  assertWeightsClose,
  buildWithTwins,
  checkAtomicSteps,
  checkNoLeak,
  scalarOf,
  sgdStep,
} from '../helpers/image-to-image.ts';
import { assertClose } from '../helpers/tensors.ts';

const G_CFG = {
  type: 'MSRResNet',
  mid_channels: 4,
  num_blocks: 1,
  upscale_factor: 2,
  seed: 1,
};
const D_CFG = { type: 'DCGANDiscriminator', in_size: 16, base_channels: 4, seed: 2 };
const LR = 0.05;
const sgd = { type: 'SGD', lr: LR };
const adam = { type: 'Adam', lr: 0.01 };
const GAN_WEIGHT = 0.1;
const ganLoss = { type: 'GANLoss', gan_type: 'vanilla', loss_weight: GAN_WEIGHT };
const close = { atol: 1e-6, rtol: 1e-5 };

/** 16×16 targets in [0, 1] and their ×2 area-downsampled inputs. */
function makeBatch(): ImageBatch {
  const gt = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  return { gt_img: gt, img: tf.avgPool(gt, 2, 2, 'valid') };
}

/** MMagic's vanilla GAN loss: BCE with logits against the label 1 or 0, mean over the elements. */
const bce = (x: tf.Tensor, real: boolean) => tf.mean(tf.softplus(real ? tf.neg(x) : x));

/** Networks (with untrained twins) and a Restorer over them; `free` disposes everything. */
function build(
  cfg: Record<string, unknown>,
  { disc = true, optimizer = sgd }: { disc?: boolean; optimizer?: unknown } = {},
) {
  return buildWithTwins(Restorer, cfg, G_CFG, disc ? D_CFG : null, optimizer);
}

describe('Restorer', () => {
  let batch: ImageBatch;
  before(async () => {
    await useTestBackend();
    batch = makeBatch();
  });
  after(() => tf.dispose(Object.values(batch)));

  test('BaseEditModel: loss_pix = L1(G(img), gt), one generator SGD step', async () => {
    const { model, g0, free } = build(
      { type: 'BaseEditModel', pixel_loss: { type: 'L1Loss', loss_weight: 2 } },
      { disc: false },
    );
    const { img, gt_img: gt } = batch;
    const pix = () =>
      tf.mul(2, tf.mean(tf.abs(tf.sub(g0.apply(img) as tf.Tensor, gt)))) as tf.Scalar;
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), ['loss_generator', 'loss_pix']);
    assertClose(log.loss_pix, scalarOf(pix), close);
    assert.equal(log.loss_generator, log.loss_pix);
    assertWeightsClose(model.generator, sgdStep(g0, LR, pix), 'generator');
    assert.equal(model.iteration, 1);
    free();
  });

  test("SRGAN: G phase then D phase on the G step's output, MMagic's terms and weights", async () => {
    const { model, g0, d0, free } = build({
      type: 'SRGAN',
      pixel_loss: { type: 'L1Loss' },
      gan_loss: ganLoss,
    });
    const disc0 = d0 as tf.LayersModel;
    const { img, gt_img: gt } = batch;
    const out0 = tf.keep(g0.apply(img) as tf.Tensor);
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), [
      'loss_generator',
      'loss_pix',
      'loss_gan',
      'loss_discriminator',
      'loss_d_real',
      'loss_d_fake',
    ]);
    // The G phase sees the untrained D; loss_weight scales the generator's GAN term only.
    const gLoss = () => {
      const out = g0.apply(img) as tf.Tensor;
      return tf.add(
        tf.mean(tf.abs(tf.sub(out, gt))),
        tf.mul(GAN_WEIGHT, bce(disc0.apply(out) as tf.Tensor, true)),
      ) as tf.Scalar;
    };
    assertClose(
      log.loss_pix,
      scalarOf(() => tf.mean(tf.abs(tf.sub(out0, gt)))),
      close,
    );
    assertClose(
      log.loss_gan,
      scalarOf(() => tf.mul(GAN_WEIGHT, bce(disc0.apply(out0) as tf.Tensor, true))),
      close,
    );
    assertClose(log.loss_generator, scalarOf(gLoss), close);
    assertWeightsClose(model.generator, sgdStep(g0, LR, gLoss), 'generator');
    // The D phase scores the G step's output (G before its update), not the updated G's.
    const dLoss = (fake: tf.Tensor) => () =>
      tf.add(
        bce(disc0.apply(gt) as tf.Tensor, true),
        bce(disc0.apply(fake) as tf.Tensor, false),
      ) as tf.Scalar;
    assertClose(
      log.loss_d_real,
      scalarOf(() => bce(disc0.apply(gt) as tf.Tensor, true)),
      close,
    );
    assertClose(
      log.loss_d_fake,
      scalarOf(() => bce(disc0.apply(out0) as tf.Tensor, false)),
      close,
    );
    assertClose(log.loss_discriminator, scalarOf(dLoss(out0)), close);
    const updatedOut = model.generator.apply(img) as tf.Tensor;
    const stale = scalarOf(() => bce(disc0.apply(updatedOut) as tf.Tensor, false));
    assert.ok(Math.abs(stale - log.loss_d_fake) > 1e-6, 'the updated G gives another loss_d_fake');
    assertWeightsClose(model.discriminator as tf.LayersModel, sgdStep(disc0, LR, dLoss(out0)), 'D');
    tf.dispose([out0, updatedOut]);
    free();
  });

  test("ESRGAN: MMagic's relativistic-average terms, detached where MMagic detaches", async () => {
    const { model, g0, d0, free } = build({
      type: 'ESRGAN',
      pixel_loss: { type: 'L1Loss' },
      gan_loss: ganLoss,
    });
    const disc0 = d0 as tf.LayersModel;
    const { img, gt_img: gt } = batch;
    const out0 = tf.keep(g0.apply(img) as tf.Tensor);
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), [
      'loss_generator',
      'loss_pix',
      'loss_gan',
      'loss_discriminator',
      'loss_d_real',
      'loss_d_fake',
    ]);
    // G: ½·w·[bce(D(out) − mean D(gt), 1) + bce(D(gt) − mean D(out), 0)]; the gradient reaches G
    // through both D(out) terms (D(gt) does not depend on G; its detaching shows in the D check).
    const ganTerm = (out: tf.Tensor) => {
      const real = disc0.apply(gt) as tf.Tensor;
      const fake = disc0.apply(out) as tf.Tensor;
      return tf.mul(
        GAN_WEIGHT * 0.5,
        tf.add(bce(tf.sub(fake, tf.mean(real)), true), bce(tf.sub(real, tf.mean(fake)), false)),
      );
    };
    const gLoss = () => {
      const out = g0.apply(img) as tf.Tensor;
      return tf.add(tf.mean(tf.abs(tf.sub(out, gt))), ganTerm(out)) as tf.Scalar;
    };
    assertClose(
      log.loss_gan,
      scalarOf(() => ganTerm(out0)),
      close,
    );
    assertWeightsClose(model.generator, sgdStep(g0, LR, gLoss), 'generator');
    // D: ½·bce(D(gt) − mean D(out)ᵈ, 1) and ½·bce(D(out) − mean D(gt)ᵈ, 0) (ESRGAN.d_step_real/fake).
    const detached = (x: tf.Tensor) => tf.mean(stopGradient(x));
    const dTerms = () => {
      const real = disc0.apply(gt) as tf.Tensor;
      const fake = disc0.apply(out0) as tf.Tensor;
      return {
        real: tf.mul(0.5, bce(tf.sub(real, detached(fake)), true)),
        fake: tf.mul(0.5, bce(tf.sub(fake, detached(real)), false)),
      };
    };
    assertClose(
      log.loss_d_real,
      scalarOf(() => dTerms().real),
      close,
    );
    assertClose(
      log.loss_d_fake,
      scalarOf(() => dTerms().fake),
      close,
    );
    const dLoss = () => {
      const { real, fake } = dTerms();
      return tf.add(real, fake) as tf.Scalar;
    };
    assertWeightsClose(model.discriminator as tf.LayersModel, sgdStep(disc0, LR, dLoss), 'D');
    out0.dispose();
    free();
  });

  test('train_cfg: the generator steps every disc_steps iterations from disc_init_steps; D every step', async () => {
    const { model, free } = build({
      type: 'SRGAN',
      pixel_loss: { type: 'L1Loss' },
      gan_loss: ganLoss,
      train_cfg: { disc_steps: 2, disc_init_steps: 3 },
    });
    const phases: string[][] = [];
    model.timer = {
      time<T>(phase: string, fn: () => T): T {
        phases.at(-1)?.push(phase);
        return fn();
      },
    };
    const keys: string[][] = [];
    for (let it = 0; it < 7; it++) {
      phases.push([]);
      keys.push(Object.keys(await model.trainStep(batch)));
    }
    const both = ['G step', 'D step'];
    assert.deepEqual(phases, [
      ['D step'],
      ['D step'],
      ['D step'],
      ['D step'],
      both,
      ['D step'],
      both,
    ]);
    assert.deepEqual(keys[0], ['loss_discriminator', 'loss_d_real', 'loss_d_fake']);
    assert.equal(model.iteration, 7);
    free();
  });

  test('a step that throws or gives a non-finite loss leaves weights and optimizer states unchanged', async () => {
    const { model, free } = build(
      { type: 'SRGAN', pixel_loss: { type: 'L1Loss' }, gan_loss: ganLoss },
      { optimizer: adam },
    );
    await checkAtomicSteps(model, batch, {
      nanField: 'img',
      nanLoss: /^SRGAN: generator loss 'loss_pix' is NaN \(not finite\); the step was undone$/,
      phases: ['G step', 'D step'],
    });
    free();
  });

  test('tf.memory().numTensors is flat across steps after the first (SRGAN, ESRGAN, BaseEditModel)', async () => {
    for (const type of ['SRGAN', 'ESRGAN', 'BaseEditModel']) {
      const withGan = type !== 'BaseEditModel';
      const { model, free } = build(
        { type, pixel_loss: { type: 'L1Loss' }, ...(withGan ? { gan_loss: ganLoss } : {}) },
        { disc: withGan, optimizer: adam },
      );
      await checkNoLeak(model, batch);
      free();
    }
  });

  describe('bad configs are ConfigErrors naming the key, and leak nothing', () => {
    /** Builds a restorer on fresh networks, expecting a ConfigError matching `want`. */
    function refuses(cfg: Record<string, unknown>, discCfg: unknown, want: RegExp) {
      const generator = buildNet('test', G_CFG);
      const discriminator = discCfg === null ? null : buildNet('test', discCfg);
      const scales = (discCfg as { num_D?: number } | null)?.num_D ?? 1;
      const before = tf.memory().numTensors;
      assert.throws(
        () =>
          new Restorer(cfg, {
            generator,
            discriminator,
            discriminatorScales: scales,
            optimizers: { generator: adam, discriminator: adam },
          }),
        (e: Error) => e instanceof ConfigError && want.test(e.message),
      );
      assert.equal(tf.memory().numTensors, before, 'a refused config leaked tensors');
      generator.dispose();
      discriminator?.dispose();
    }
    const multiScale = {
      type: 'MultiScaleDiscriminator',
      base_channels: 4,
      num_layers: 1,
      num_D: 2,
    };

    test('a loss in the wrong key names the key and the allowed types', () => {
      const allowed = LOSS_ROLES.pixel.join('|').replace(/\|/g, '\\|');
      refuses(
        { type: 'SRGAN', pixel_loss: { type: 'PerceptualLoss' }, gan_loss: ganLoss },
        D_CFG,
        new RegExp(
          `^SRGAN: option 'pixel_loss' must be a loss that a SRGAN can call there \\(${allowed}\\), got type 'PerceptualLoss'$`,
        ),
      );
      refuses(
        { type: 'SRGAN', pixel_loss: { type: 'L1Loss' }, gan_loss: { type: 'L1Loss' } },
        D_CFG,
        /option 'gan_loss' must be .*\(GANLoss\|GANLossComps\|MultiScaleGANLoss\|RelativisticGANLoss\|AdvLoss\), got type 'L1Loss'/,
      );
    });

    test('gan_loss without a discriminator, and a discriminator without gan_loss', () => {
      refuses(
        { type: 'SRGAN', pixel_loss: { type: 'L1Loss' }, gan_loss: ganLoss },
        null,
        /^SRGAN: 'gan_loss' and 'discriminator' go together \(got gan_loss without a discriminator\)$/,
      );
      refuses(
        { type: 'SRGAN', pixel_loss: { type: 'L1Loss' } },
        D_CFG,
        /^SRGAN: 'gan_loss' and 'discriminator' go together \(got a discriminator without gan_loss\)$/,
      );
      refuses(
        { type: 'BaseEditModel', pixel_loss: { type: 'L1Loss' }, gan_loss: ganLoss },
        D_CFG,
        /^BaseEditModel: trains no discriminator; for a GAN loss use type SRGAN or ESRGAN$/,
      );
    });

    test('GANLoss with a MultiScaleDiscriminator, and feature_matching_loss without one', () => {
      refuses(
        { type: 'SRGAN', pixel_loss: { type: 'L1Loss' }, gan_loss: ganLoss },
        multiScale,
        /^SRGAN: option 'gan_loss' is GANLoss, which takes one prediction per image; the discriminator gives 2 scales of outputs: use MultiScaleGANLoss$/,
      );
      refuses(
        {
          type: 'SRGAN',
          pixel_loss: { type: 'L1Loss' },
          gan_loss: ganLoss,
          feature_matching_loss: { type: 'GANFeatLoss' },
        },
        D_CFG,
        /^SRGAN: 'feature_matching_loss' needs a discriminator that returns its features \(type MultiScaleDiscriminator\)$/,
      );
    });

    test('no loss at all', () => {
      refuses({ type: 'BaseEditModel' }, null, /^BaseEditModel: no loss configured/);
    });

    test('an SSIM pixel loss without clamp_output (its images must be in [0, data_range])', () => {
      refuses(
        { type: 'BaseEditModel', pixel_loss: { type: 'SSIMLoss' } },
        null,
        /^BaseEditModel: pixel_loss 'SSIMLoss' takes images in \[0, data_range\]; set clamp_output: true/,
      );
    });
  });
});
