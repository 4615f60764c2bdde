/**
 * MMagic's DIM without its refiner (src/models/matting.ts) on a tiny MSRResNet (4 → 1 channels,
 * ×1) and the shapes matting data: one step's log keys and values, and the weights after one SGD
 * step, against the step recomputed here with plain TF.js ops on an untrained twin — the sigmoid
 * alpha, the alpha and composition L1 losses over the unknown region of the trimap only; atomic
 * steps; no leaks; bad configs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../src/core/errors.ts';
import type { ImageBatch } from '../../src/models/image-to-image.ts';
import { LOSS_ROLES } from '../../src/models/loss-roles.ts';
import { Mattor } from '../../src/models/matting.ts';
import { buildNet } from '../../src/train/architectures.ts';
import { mattingData } from '../../src/train/paired-data.ts';
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
  out_channels: 1,
  mid_channels: 4,
  num_blocks: 1,
  upscale_factor: 1,
  seed: 5,
};
const LR = 0.05;
const adam = { type: 'Adam', lr: 0.01 };
const W = { alpha: 0.5, comp: 2 };
const LOSSES = {
  type: 'DIM',
  loss_alpha: { type: 'L1Loss', loss_weight: W.alpha },
  loss_comp: { type: 'L1CompositionLoss', loss_weight: W.comp },
};
const close = { atol: 1e-6, rtol: 1e-5 };

function build(
  cfg: Record<string, unknown> = LOSSES,
  optimizer: unknown = { type: 'SGD', lr: LR },
) {
  return buildWithTwins(Mattor, cfg, G_CFG, null, optimizer);
}

describe('DIM', () => {
  let batch: ImageBatch;
  before(async () => {
    await useTestBackend();
    batch = mattingData(2, 16, 3, 1).batch([0, 1]);
  });
  after(() => tf.dispose(Object.values(batch)));

  test('one step: sigmoid alpha; alpha and composition L1 over the unknown region only', async () => {
    const { model, g0, free } = build();
    const { merged, trimap, alpha, fg, bg } = batch;
    const unknown = tf.cast(tf.equal(trimap, 0.5), 'float32');
    const known = scalarOf(() => tf.sum(tf.sub(1, unknown)));
    assert.ok(known > 0 && scalarOf(() => tf.sum(unknown)) > 0, 'both regions are present');
    const terms = () => {
      const pred = tf.sigmoid(g0.apply(tf.concat([merged, trimap], 3)) as tf.Tensor);
      const composite = tf.add(tf.mul(pred, fg), tf.mul(tf.sub(1, pred), bg));
      return {
        alpha: tf.mul(W.alpha, maskedL1(pred, alpha, unknown)),
        comp: tf.mul(W.comp, maskedL1(composite, merged, unknown)),
      };
    };
    const loss = () => tf.add(terms().alpha, terms().comp) as tf.Scalar;
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), ['loss_generator', 'loss_alpha', 'loss_comp']);
    assertClose(
      log.loss_alpha,
      scalarOf(() => terms().alpha),
      close,
    );
    assertClose(
      log.loss_comp,
      scalarOf(() => terms().comp),
      close,
    );
    assertClose(log.loss_generator, scalarOf(loss), close);
    assertWeightsClose(model.generator, sgdStep(g0, LR, loss), 'generator');
    // The known region carries no loss: a wrong alpha there changes nothing.
    const wrongKnown = {
      ...batch,
      alpha: tf.where(tf.equal(trimap, 0.5), alpha, tf.sub(1, alpha)),
    };
    const { model: other, free: freeOther } = build();
    const otherLog = await other.trainStep(wrongKnown as ImageBatch);
    assert.equal(otherLog.loss_alpha, log.loss_alpha);
    tf.dispose([unknown, wrongKnown.alpha]);
    freeOther();
    free();
  });

  test('predict() is the sigmoid of the network output, in (0, 1)', () => {
    const { model, g0, free } = build();
    const out = model.predict(batch);
    const want = tf.tidy(() =>
      tf.sigmoid(g0.apply(tf.concat([batch.merged, batch.trimap], 3)) as tf.Tensor),
    );
    assertClose(out, want, close);
    assert.deepEqual(out.shape, [2, 16, 16, 1]);
    tf.dispose([out, want]);
    free();
  });

  test('a step that throws or gives a non-finite loss leaves the weights and optimizer state unchanged', async () => {
    const { model, free } = build(LOSSES, adam);
    await checkAtomicSteps(model, batch, {
      nanField: 'merged',
      nanLoss: /^DIM: generator loss 'loss_alpha' is NaN \(not finite\); the step was undone$/,
      phases: ['G step'],
    });
    free();
  });

  test('tf.memory().numTensors is flat across steps after the first', async () => {
    const { model, free } = build(LOSSES, adam);
    await checkNoLeak(model, batch);
    free();
  });

  describe('bad configs are ConfigErrors naming the key, and leak nothing', () => {
    function refuses(cfg: Record<string, unknown>, withDisc: boolean, want: RegExp) {
      const generator = buildNet('test', G_CFG);
      const discriminator = withDisc
        ? buildNet('test', { type: 'DCGANDiscriminator', in_size: 16, base_channels: 4 })
        : null;
      const before = tf.memory().numTensors;
      assert.throws(
        () =>
          new Mattor(cfg, {
            generator,
            discriminator,
            optimizers: { generator: adam, discriminator: adam },
          }),
        (e: Error) => e instanceof ConfigError && want.test(e.message),
      );
      assert.equal(tf.memory().numTensors, before, 'a refused config leaked tensors');
      generator.dispose();
      discriminator?.dispose();
    }

    test('DIM with a discriminator', () => {
      refuses(LOSSES, true, /^DIM: trains no discriminator$/);
    });

    test('a loss in the wrong key names the key and the allowed types', () => {
      refuses(
        { ...LOSSES, loss_alpha: { type: 'L1CompositionLoss' } },
        false,
        new RegExp(
          `^DIM: option 'loss_alpha' must be a loss that a DIM can call there \\(${LOSS_ROLES.masked_pixel.join('\\|')}\\), got type 'L1CompositionLoss'$`,
        ),
      );
      refuses(
        { ...LOSSES, loss_comp: { type: 'L1Loss' } },
        false,
        /^DIM: option 'loss_comp' must be .*\(L1CompositionLoss\|MSECompositionLoss\|CharbonnierCompLoss\), got type 'L1Loss'$/,
      );
    });

    test('no loss', () => {
      refuses(
        { type: 'DIM' },
        false,
        /^DIM: no loss configured \(set loss_alpha and\/or loss_comp\)$/,
      );
    });
  });
});
