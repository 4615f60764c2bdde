/**
 * CLIPLossComps (src/components/clip.ts): the data_info component around CLIPLoss, with a tiny
 * pluggable model (no weights).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CLIPLoss, CLIPLossComps, DataInfoError, LOSSES } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose, uniform } from '../helpers/tensors.ts';

before(async () => {
  await useTestBackend();
});

/** A CLIP "model": 100 · cos(mean-pooled image colour, the first 3 token ids). */
const tinyClip = (image: tf.Tensor, text: tf.Tensor) => {
  const unit = (t: tf.Tensor) => tf.div(t, tf.norm(t, 2, -1, true));
  const img = unit(tf.add(tf.mean(image, [1, 2]), 2));
  const txt = unit(tf.slice(tf.cast(text, 'float32'), [0, 0], [-1, 3]));
  return tf.mul(tf.matMul(img, txt, false, true), 100);
};
/** Pools 8×8 to 4×4 (nearest ×1, then average pooling with kernel 8 // 4 = 2). */
const clipModel = { in_size: 8, scale_factor: 1, pool_size: 4 };

describe('CLIPLossComps', () => {
  const image = () => uniform([2, 8, 8, 3], 3, -1, 1);
  const text = () =>
    tf.tensor2d(
      [
        [49406, 320, 1125, 49407],
        [49406, 2368, 530, 49407],
        [49406, 7, 9, 49407],
      ],
      undefined,
      'int32',
    );
  const dataInfo = { image: 'fake_imgs', text: 'descriptions' };

  test('the outputs dict, positional or {outputs_dict}, gives the plain loss times loss_weight', () => {
    tf.tidy(() => {
      const comps = new CLIPLossComps(
        { loss_weight: 0.5, data_info: dataInfo, clip_model: clipModel },
        tinyClip,
      );
      const plain = new CLIPLoss({ clip_model: clipModel }, tinyClip).forward(image(), text());
      const expected = tf.mul(plain, 0.5);
      const outputs = { fake_imgs: image(), descriptions: text() };
      const positional = comps.forward(outputs) as tf.Tensor;
      assert.deepEqual(positional.shape, [2, 3]);
      assertClose(positional, expected);
      assertClose(comps.forward({ outputs_dict: outputs }) as tf.Tensor, expected);
      assert.ok(tf.max(tf.abs(plain)).dataSync()[0] > 0);
    });
  });

  test('without data_info, (image, text) pass straight through; setModel and the registry', () => {
    tf.tidy(() => {
      const comps = LOSSES.build({ type: 'CLIPLossComps', loss_weight: 2, clip_model: clipModel });
      assert.ok(comps instanceof CLIPLossComps);
      comps.setModel(tinyClip);
      const plain = new CLIPLoss({ clip_model: clipModel }, tinyClip).forward(image(), text());
      assertClose(comps.forward(image(), text()) as tf.Tensor, tf.mul(plain, 2));
    });
  });

  test('a missing key is a DataInfoError listing the available keys', () => {
    const comps = new CLIPLossComps({ data_info: dataInfo, clip_model: clipModel }, tinyClip);
    assert.throws(
      () => comps.forward({ fake_imgs: tf.zeros([1, 8, 8, 3]) }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "CLIPLossComps: data_info argument 'text' needs output 'descriptions', which the outputs dict does not have. Available: fake_imgs",
    );
  });

  test("lossName() is always 'clip_loss', as MMagic's static loss_name()", () => {
    assert.equal(new CLIPLossComps().lossName(), 'clip_loss');
    assert.equal(new CLIPLossComps({ loss_name: 'loss_clip' }).lossName(), 'clip_loss');
    assert.equal(new CLIPLossComps({ loss_name: 'loss_custom' }).lossName(), 'clip_loss');
  });
});
