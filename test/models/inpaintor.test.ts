/**
 * MMagic's OneStageInpaintor (src/models/inpaintor.ts) on a tiny MSRResNet (4 → 3 channels, ×1)
 * and DCGAN discriminator: one step's log keys and values, and the weights after one SGD step of
 * each network, against the step recomputed here with plain TF.js ops on untrained twins — the
 * D phase first (hinge terms, `DiscShiftLoss` on each scalar GAN term with ½, MMagic's masked
 * gradient penalty), then the G phase against the updated D (composited `fake_img`, masked L1 of
 * the raw output); `train_cfg.disc_step`; atomic steps; no leaks; bad configs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../src/core/errors.ts';
import { defaultGenerator } from '../../src/core/random.ts';
import type { ImageBatch } from '../../src/models/image-to-image.ts';
import { Inpaintor } from '../../src/models/inpaintor.ts';
import { LOSS_ROLES } from '../../src/models/loss-roles.ts';
import { buildNet } from '../../src/train/architectures.ts';
import { useTestBackend } from '../helpers/backend.ts';
import {
  assertWeightsClose,
  buildWithTwins,
  checkAtomicSteps,
  checkNoLeak,
  maskedL1,
  scalarOf,
  sgdStep,
} from '../helpers/image-to-image.ts';
import { assertClose } from '../helpers/tensors.ts';

const G_CFG = {
  type: 'MSRResNet',
  in_channels: 4,
  out_channels: 3,
  mid_channels: 4,
  num_blocks: 1,
  upscale_factor: 1,
  seed: 3,
};
const D_CFG = { type: 'DCGANDiscriminator', in_size: 16, base_channels: 4, seed: 4 };
const LR = 0.05;
const sgd = { type: 'SGD', lr: LR };
const adam = { type: 'Adam', lr: 0.01 };
const W = { gan: 0.1, gp: 10, shift: 0.001, hole: 6, valid: 0.5 };
const LOSSES = {
  type: 'OneStageInpaintor',
  loss_gan: { type: 'GANLoss', gan_type: 'hinge', loss_weight: W.gan },
  loss_gp: { type: 'GradientPenaltyLoss', loss_weight: W.gp },
  loss_disc_shift: { type: 'DiscShiftLoss', loss_weight: W.shift },
  loss_l1_hole: { type: 'L1Loss', loss_weight: W.hole },
  loss_l1_valid: { type: 'L1Loss', loss_weight: W.valid },
};
const close = { atol: 1e-6, rtol: 1e-5 };

/** Images in [−1, 1] and one box hole per image (1 in the hole). */
function makeBatch(): ImageBatch {
  const mask = tf.buffer([2, 16, 16, 1]);
  for (let y = 4; y < 11; y++) for (let x = 3; x < 13; x++) mask.set(1, 0, y, x, 0);
  for (let y = 0; y < 6; y++) for (let x = 8; x < 16; x++) mask.set(1, 1, y, x, 0);
  return {
    gt_img: tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 11) as tf.Tensor4D,
    mask: mask.toTensor() as tf.Tensor4D,
  };
}

/** Networks (with untrained twins) and a Inpaintor over them; `free` disposes everything. */
function build(
  cfg: Record<string, unknown> = LOSSES,
  { disc = true, optimizer = sgd }: { disc?: boolean; optimizer?: unknown } = {},
) {
  return buildWithTwins(Inpaintor, cfg, G_CFG, disc ? D_CFG : null, optimizer);
}

/**
 * MMagic's `gradient_penalty_loss` with a mask: x̂ = α·real + (1 − α)·fake, g = ∂ΣD(x̂)/∂x̂ · mask,
 * mean over pixels of (‖g‖₂ over channels − 1)², divided by mean(mask).
 */
function maskedGradientPenalty(
  disc: tf.LayersModel,
  real: tf.Tensor,
  fake: tf.Tensor,
  mask: tf.Tensor,
  alpha: tf.Tensor,
): tf.Tensor {
  const x = tf.add(tf.mul(alpha, real), tf.mul(tf.sub(1, alpha), fake));
  const g = tf.mul(tf.grad((t: tf.Tensor) => tf.sum(disc.apply(t) as tf.Tensor))(x), mask);
  // ‖g‖ with PyTorch's zero subgradient at 0 (the masked pixels), through the double-where trick.
  const squared = tf.sum(tf.square(g), 3);
  const positive = tf.greater(squared, 0);
  const norm = tf.where(positive, tf.sqrt(tf.where(positive, squared, tf.onesLike(squared))), 0);
  return tf.div(tf.mean(tf.square(tf.sub(norm, 1))), tf.mean(mask));
}

describe('OneStageInpaintor', () => {
  let batch: ImageBatch;
  before(async () => {
    await useTestBackend();
    batch = makeBatch();
  });
  after(() => tf.dispose(Object.values(batch)));

  test('one step: D phase first (hinge, disc shift on the GAN values, masked GP), then G against the updated D', async () => {
    const { model, g0, d0, free } = build();
    const disc0 = d0 as tf.LayersModel;
    const { gt_img: gt, mask } = batch;
    const input = tf.concat([tf.mul(gt, tf.sub(1, mask)), mask], 3);
    const composite = (raw: tf.Tensor) => tf.add(tf.mul(gt, tf.sub(1, mask)), tf.mul(raw, mask));
    const raw0 = g0.apply(input) as tf.Tensor;
    const fake0 = composite(raw0);
    defaultGenerator.manualSeed(123);
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), [
      'loss_discriminator',
      'real_loss',
      'fake_loss',
      'loss_disc_shift',
      'loss_gp',
      'loss_generator',
      'loss_g_fake',
      'loss_l1_hole',
      'loss_l1_valid',
    ]);
    // The GP's α is the step's first draw from the default generator.
    defaultGenerator.manualSeed(123);
    const alpha = defaultGenerator.uniform([2, 1, 1, 1]);
    const dTerms = () => {
      const real = tf.mean(tf.relu(tf.sub(1, disc0.apply(gt) as tf.Tensor)));
      const fake = tf.mean(tf.relu(tf.add(1, disc0.apply(fake0) as tf.Tensor)));
      return {
        real,
        fake,
        shift: tf.mul(0.5 * W.shift, tf.add(tf.square(real), tf.square(fake))),
        gp: tf.mul(W.gp, maskedGradientPenalty(disc0, gt, fake0, mask, alpha)),
      };
    };
    const dLoss = () => tf.addN(Object.values(dTerms())) as tf.Scalar;
    assertClose(
      log.real_loss,
      scalarOf(() => dTerms().real),
      close,
    );
    assertClose(
      log.fake_loss,
      scalarOf(() => dTerms().fake),
      close,
    );
    assertClose(
      log.loss_disc_shift,
      scalarOf(() => dTerms().shift),
      close,
    );
    assertClose(
      log.loss_gp,
      scalarOf(() => dTerms().gp),
      close,
    );
    assertClose(log.loss_discriminator, scalarOf(dLoss), close);
    const disc = model.discriminator as tf.LayersModel;
    assertWeightsClose(disc, sgdStep(disc0, LR, dLoss), 'discriminator');
    // The G phase: hinge generator term −w·mean D(fake_img) with the D the D phase updated, and the
    // masked L1 of the raw output over the hole and the valid region.
    const gTerms = (raw: tf.Tensor, d: tf.LayersModel) => ({
      gFake: tf.mul(-W.gan, tf.mean(d.apply(composite(raw)) as tf.Tensor)),
      hole: tf.mul(W.hole, maskedL1(raw, gt, mask)),
      valid: tf.mul(W.valid, maskedL1(raw, gt, tf.sub(1, mask))),
    });
    assertClose(
      log.loss_g_fake,
      scalarOf(() => gTerms(raw0, disc).gFake),
      close,
    );
    const stale = scalarOf(() => gTerms(raw0, disc0).gFake);
    assert.ok(Math.abs(stale - log.loss_g_fake) > 1e-6, 'the untrained D gives another value');
    assertClose(
      log.loss_l1_hole,
      scalarOf(() => gTerms(raw0, disc).hole),
      close,
    );
    assertClose(
      log.loss_l1_valid,
      scalarOf(() => gTerms(raw0, disc).valid),
      close,
    );
    const gLoss = () =>
      tf.addN(Object.values(gTerms(g0.apply(input) as tf.Tensor, disc))) as tf.Scalar;
    assertClose(log.loss_generator, scalarOf(gLoss), close);
    assertWeightsClose(model.generator, sgdStep(g0, LR, gLoss), 'generator');
    tf.dispose([input, raw0, fake0, alpha]);
    free();
  });

  test('predict() composites: the valid region is the input image, the hole the raw output', () => {
    const { model, g0, free } = build();
    const { gt_img: gt, mask } = batch;
    const out = model.predict(batch);
    const want = tf.tidy(() => {
      const raw = g0.apply(tf.concat([tf.mul(gt, tf.sub(1, mask)), mask], 3)) as tf.Tensor;
      return tf.add(tf.mul(gt, tf.sub(1, mask)), tf.mul(raw, mask));
    });
    assertClose(out, want, close);
    const valid = tf.tidy(() => tf.max(tf.abs(tf.mul(tf.sub(out, gt), tf.sub(1, mask)))));
    assert.equal(valid.dataSync()[0], 0, 'valid pixels are the input exactly');
    tf.dispose([out, want, valid]);
    free();
  });

  test('train_cfg.disc_step: D every step, G every disc_step-th (MMagic counts from 1)', async () => {
    const { model, free } = build({ ...LOSSES, train_cfg: { disc_step: 3 } }, { optimizer: adam });
    const phases: string[][] = [];
    model.timer = {
      time<T>(phase: string, fn: () => T): T {
        phases.at(-1)?.push(phase);
        return fn();
      },
    };
    for (let it = 0; it < 6; it++) {
      phases.push([]);
      await model.trainStep(batch);
    }
    const both = ['D step', 'G step'];
    assert.deepEqual(phases, [['D step'], ['D step'], both, ['D step'], ['D step'], both]);
    free();
  });

  test('without loss_gan: the G phase only, no discriminator', async () => {
    const { model, g0, free } = build(
      { type: 'OneStageInpaintor', loss_l1_hole: { type: 'L1Loss' } },
      { disc: false },
    );
    const { gt_img: gt, mask } = batch;
    const want = scalarOf(() =>
      maskedL1(g0.apply(tf.concat([tf.mul(gt, tf.sub(1, mask)), mask], 3)) as tf.Tensor, gt, mask),
    );
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), ['loss_generator', 'loss_l1_hole']);
    assertClose(log.loss_l1_hole, want, close);
    free();
  });

  test('a step that throws or gives a non-finite loss leaves weights and optimizer states unchanged', async () => {
    const { model, free } = build(LOSSES, { optimizer: adam });
    await checkAtomicSteps(model, batch, {
      nanField: 'gt_img',
      nanLoss:
        /^OneStageInpaintor: discriminator loss 'real_loss' is NaN \(not finite\); the step was undone$/,
      phases: ['D step', 'G step'],
    });
    free();
  });

  test('tf.memory().numTensors is flat across steps after the first', async () => {
    const { model, free } = build(LOSSES, { optimizer: adam });
    await checkNoLeak(model, batch);
    free();
  });

  describe('bad configs are ConfigErrors naming the key, and leak nothing', () => {
    function refuses(cfg: Record<string, unknown>, discCfg: unknown, want: RegExp) {
      const generator = buildNet('test', G_CFG);
      const discriminator = discCfg === null ? null : buildNet('test', discCfg);
      const before = tf.memory().numTensors;
      assert.throws(
        () =>
          new Inpaintor(cfg, {
            generator,
            discriminator,
            discriminatorScales: (discCfg as { num_D?: number } | null)?.num_D ?? 1,
            optimizers: { generator: adam, discriminator: adam },
          }),
        (e: Error) => e instanceof ConfigError && want.test(e.message),
      );
      assert.equal(tf.memory().numTensors, before, 'a refused config leaked tensors');
      generator.dispose();
      discriminator?.dispose();
    }

    test('a loss in the wrong key names the key and the allowed types', () => {
      const allowed = LOSS_ROLES.masked_pixel.join('\\|');
      refuses(
        { ...LOSSES, loss_l1_hole: { type: 'GANLoss', gan_type: 'hinge' } },
        D_CFG,
        new RegExp(
          `^OneStageInpaintor: option 'loss_l1_hole' must be a loss that a OneStageInpaintor can call there \\(${allowed}\\), got type 'GANLoss'$`,
        ),
      );
      refuses(
        { ...LOSSES, loss_disc_shift: { type: 'L1Loss' } },
        D_CFG,
        /option 'loss_disc_shift' must be .*\(DiscShiftLoss\), got type 'L1Loss'$/,
      );
    });

    test('loss_gan and the discriminator go together; loss_gp and loss_disc_shift need them', () => {
      refuses(
        LOSSES,
        null,
        /^OneStageInpaintor: 'loss_gan' and 'discriminator' go together \(got loss_gan without a discriminator\)$/,
      );
      refuses(
        { type: 'OneStageInpaintor', loss_l1_hole: { type: 'L1Loss' } },
        D_CFG,
        /^OneStageInpaintor: 'loss_gan' and 'discriminator' go together \(got a discriminator without loss_gan\)$/,
      );
      refuses(
        {
          type: 'OneStageInpaintor',
          loss_l1_hole: { type: 'L1Loss' },
          loss_gp: { type: 'GradientPenaltyLoss' },
        },
        null,
        /^OneStageInpaintor: 'loss_gp' and 'loss_disc_shift' need loss_gan and a discriminator$/,
      );
    });

    test('GANLoss with a MultiScaleDiscriminator', () => {
      refuses(
        LOSSES,
        { type: 'MultiScaleDiscriminator', base_channels: 4, num_layers: 1, num_D: 2 },
        /^OneStageInpaintor: option 'loss_gan' is GANLoss, which takes one prediction per image; the discriminator gives 2 scales of outputs: use MultiScaleGANLoss$/,
      );
    });
  });
});
