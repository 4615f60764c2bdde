/**
 * CLIPLoss against PyTorch (test/reference/perceptual/features.json): a small CLIP with Hugging
 * Face CLIPModel's parameter names, read from safetensors; and the tokenizer's ids.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  CLIPLoss,
  CLIPModel,
  ConfigError,
  clipPool,
  clipTokenize,
  LOSSES,
  parseSafetensors,
  ShapeError,
  tensorMapSource,
  WeightsError,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { loadCases, type NetworkCase, toTensor, weightsFixture } from '../helpers/reference.ts';
import { assertClose, assertNoLeak, uniform } from '../helpers/tensors.ts';

const cases = loadCases<NetworkCase>('perceptual/features.json', 'CLIPLoss');

describe('CLIPLoss', () => {
  before(async () => {
    await useTestBackend();
  });

  test(`${cases.length} PyTorch cases: MMagic's pooling, both towers, logits and image gradient`, () => {
    for (const c of cases) {
      tf.tidy(() => {
        const loss = LOSSES.build({ type: c.type, ...c.config }) as CLIPLoss;
        loss.loadWeights(weightsFixture(c.weights));
        const image = toTensor(c.args[0].tensor);
        const text = tf.cast(toTensor(c.args[1].tensor), 'int32');
        assertClose(loss.forward(image, text), toTensor(c.output), { what: `${c.id}: output` });
        const cot = toTensor(c.cotangent!);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(loss.forward(t, text), cot)))(image);
        assertClose(g, toTensor(c.grads.image), { what: `${c.id}: gradient`, atol: 1e-6 });
        loss.dispose();
      });
    }
  });

  test('the tokenizer gives clip.tokenize ids', async () => {
    const ids = await clipTokenize(['a photo of a cat', 'a dog']);
    assert.deepEqual(ids.shape, [2, 77]);
    assert.deepEqual(
      Array.from(ids.dataSync().slice(0, 8)),
      [49406, 320, 1125, 539, 320, 2368, 49407, 0],
    );
    assert.deepEqual(Array.from(ids.dataSync().slice(77, 81)), [49406, 320, 1929, 49407]);
    ids.dispose();
  });

  test("MMagic's pooling: 1024 → 224 and 32 → 32 with the small setting", () => {
    const x = tf.zeros([1, 1024, 1024, 1]);
    assert.deepEqual(clipPool(x).shape, [1, 224, 224, 1]);
    const y = uniform([1, 32, 32, 1], 1);
    // Nearest ×7 then 7×7 averages is the identity.
    assertClose(clipPool(y, 32, 7, 32), y);
    tf.dispose([x, y]);
  });

  test('wrong shapes and head counts are WeightsErrors; bad calls are clear errors', () => {
    const st = parseSafetensors(weightsFixture('clip_small.safetensors'), 'clip_small.safetensors');
    const floats = st.names().filter((n) => !n.endsWith('position_ids'));
    const map: Record<string, tf.Tensor> = {};
    for (const n of floats) map[n] = st.tensor(n);
    CLIPModel.load(tensorMapSource(map), { visionHeads: 2, textHeads: 2 }).dispose();
    assert.throws(
      () => CLIPModel.load(tensorMapSource(map), { visionHeads: 3, textHeads: 2 }),
      (e: Error) =>
        e instanceof WeightsError && /visionHeads 3 does not divide the width 16/.test(e.message),
    );
    const edited = { ...map, 'text_model.encoder.layers.1.mlp.fc2.weight': tf.zeros([16, 31]) };
    assert.throws(
      () => CLIPModel.load(tensorMapSource(edited, 'edited'), { visionHeads: 2, textHeads: 2 }),
      /'text_model.encoder.layers.1.mlp.fc2.weight' in edited must have shape \[16, 32\], got \[16, 31\]/,
    );
    const pos = { ...map, 'vision_model.embeddings.position_embedding.weight': tf.zeros([18, 16]) };
    assert.throws(
      () => CLIPModel.load(tensorMapSource(pos), { visionHeads: 2, textHeads: 2 }),
      /has 18 rows, not a square grid \+ 1/,
    );
    tf.dispose([
      ...Object.values(map),
      edited['text_model.encoder.layers.1.mlp.fc2.weight'],
      pos['vision_model.embeddings.position_embedding.weight'],
    ]);

    assert.throws(
      () => new CLIPLoss({ clip_model: { clip_type: 'RN50' as 'ViT-B/32' } }),
      ConfigError,
    );
    const loss = new CLIPLoss({
      clip_model: { in_size: 32, pool_size: 32, vision_heads: 2, text_heads: 2 },
      input_range: [-1, 1],
    });
    const img = uniform([1, 32, 32, 3], 2, -1, 1);
    const text = tf.tensor2d([[62, 5, 63, ...new Array(74).fill(0)]], [1, 77], 'int32');
    assert.throws(() => loss.forward(img, text), /no CLIP weights loaded/);
    loss.loadWeights(weightsFixture('clip_small.safetensors'));
    assert.throws(
      () => loss.forward(img, tf.zeros([77])),
      (e: Error) => e instanceof ShapeError && /'text' must be an N_text×77/.test(e.message),
    );
    const wrongSize = uniform([1, 40, 40, 3], 3, -1, 1);
    assert.throws(
      () => loss.forward(wrongSize, text),
      /'image' of 40×40 pools to 40×40 \(in_size 32, scale_factor 7, pool_size 32\) but CLIP takes 32×32/,
    );
    assert.throws(
      () => loss.forward(tf.mul(img, 100), text),
      /'image' must be an image in \[-1, 1\]/,
    );
    assertNoLeak(() => loss.forward(img, text), 3);
    loss.dispose();
    tf.dispose([img, text, wrongSize]);
  });
});
