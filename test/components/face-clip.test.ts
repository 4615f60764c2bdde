/**
 * FaceIdLossComps and CLIPLossComps: the data_info components around FaceIdLoss and CLIPLoss,
 * with tiny pluggable networks (no weights).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  CLIPLoss,
  CLIPLossComps,
  DataInfoError,
  FaceIdLoss,
  FaceIdLossComps,
  LOSSES,
  WeightsError,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose, uniform } from '../helpers/tensors.ts';

/** The face network's weights, made once the backend is ready. */
let projection: tf.Tensor;
before(async () => {
  await useTestBackend();
  projection = uniform([4 * 4 * 3, 5], 7, -1, 1);
});

/** A face "network": a fixed linear map of the flattened image to 5-d embeddings. */
const tinyFacenet = (x: tf.Tensor) => tf.matMul(tf.reshape(x, [x.shape[0], -1]), projection);

/** A CLIP "model": 100 · cos(mean-pooled image colour, the first 3 token ids). */
const tinyClip = (image: tf.Tensor, text: tf.Tensor) => {
  const unit = (t: tf.Tensor) => tf.div(t, tf.norm(t, 2, -1, true));
  const img = unit(tf.add(tf.mean(image, [1, 2]), 2));
  const txt = unit(tf.slice(tf.cast(text, 'float32'), [0, 0], [-1, 3]));
  return tf.mul(tf.matMul(img, txt, false, true), 100);
};
/** Pools 8×8 to 4×4 (nearest ×1, then average pooling with kernel 8 // 4 = 2). */
const clipModel = { in_size: 8, scale_factor: 1, pool_size: 4 };

describe('FaceIdLossComps', () => {
  const pred = () => uniform([2, 4, 4, 3], 1, -1, 1);
  const gt = () => uniform([2, 4, 4, 3], 2, -1, 1);
  const dataInfo = { pred: 'fake_imgs', gt: 'real_imgs' };

  test('the outputs dict, positional or {outputs_dict}, gives the plain loss times loss_weight', () => {
    tf.tidy(() => {
      const comps = new FaceIdLossComps({ loss_weight: 2.5, data_info: dataInfo }, tinyFacenet);
      const plain = new FaceIdLoss({}, tinyFacenet).forward(pred(), gt());
      const expected = tf.mul(plain, 2.5);
      const outputs = { fake_imgs: pred(), real_imgs: gt(), iteration: 3 };
      assertClose(comps.forward(outputs) as tf.Tensor, expected);
      assertClose(comps.forward({ outputs_dict: outputs }) as tf.Tensor, expected);
      assert.ok(plain.dataSync()[0] > 0);
    });
  });

  test("FaceIdLossComps (w=2.5, outputs_dict) returns a 0-d tensor (MMagic's unit test)", () => {
    tf.tidy(() => {
      const comps = LOSSES.build({
        type: 'FaceIdLossComps',
        loss_weight: 2.5,
        data_info: dataInfo,
      });
      assert.ok(comps instanceof FaceIdLossComps);
      comps.setNetwork(tinyFacenet);
      const loss = comps.forward({ outputs_dict: { fake_imgs: pred(), real_imgs: gt() } });
      assert.equal((loss as tf.Tensor).rank, 0);
    });
  });

  test('without data_info, (pred, gt) pass straight through', () => {
    tf.tidy(() => {
      const comps = new FaceIdLossComps({ loss_weight: 3 }, tinyFacenet);
      const expected = tf.mul(new FaceIdLoss({}, tinyFacenet).forward(pred(), gt()), 3);
      assertClose(comps.forward(pred(), gt()) as tf.Tensor, expected);
    });
  });

  test('a missing key is a DataInfoError listing the available keys', () => {
    const comps = new FaceIdLossComps({ data_info: dataInfo }, tinyFacenet);
    assert.throws(
      () => comps.forward({ fake_imgs: tf.zeros([1, 4, 4, 3]), gen_imgs: 0 }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "FaceIdLossComps: data_info argument 'gt' needs output 'real_imgs', which the outputs dict does not have. Available: fake_imgs, gen_imgs",
    );
  });

  test("lossName() is loss_name, 'loss_id' by default; no network is a WeightsError", () => {
    assert.equal(new FaceIdLossComps().lossName(), 'loss_id');
    assert.equal(new FaceIdLossComps({ loss_name: 'loss_face' }).lossName(), 'loss_face');
    assert.throws(
      () => new FaceIdLossComps().forward(tf.zeros([1, 4, 4, 3]), tf.zeros([1, 4, 4, 3])),
      WeightsError,
    );
  });
});

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
