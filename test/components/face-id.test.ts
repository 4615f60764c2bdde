/**
 * FaceIdLossComps (src/components/face-id.ts): the data_info component around FaceIdLoss, with a
 * tiny pluggable network (no weights).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
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
