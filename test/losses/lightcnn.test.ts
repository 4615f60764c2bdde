/**
 * LightCNNFeatureLoss against PyTorch (test/reference/perceptual/features.json): a small
 * LightCNN-shaped network (MaxFeature blocks, ceil-mode pools) read from safetensors.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  LightCNNFeatureLoss,
  LightCNNFeatures,
  LOSSES,
  parseSafetensors,
  tensorMapSource,
  WeightsError,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { loadCases, type NetworkCase, toTensor, weightsFixture } from '../helpers/reference.ts';
import { assertClose, assertNoLeak, uniform } from '../helpers/tensors.ts';

const cases = loadCases<NetworkCase>('perceptual/features.json', 'LightCNNFeatureLoss');

describe('LightCNNFeatureLoss', () => {
  before(async () => {
    await useTestBackend();
  });

  test(`${cases.length} PyTorch cases: features, loss, gradient and second-order gradient`, () => {
    for (const c of cases) {
      tf.tidy(() => {
        const loss = LOSSES.build({ type: c.type, ...c.config }) as LightCNNFeatureLoss;
        loss.loadWeights(weightsFixture(c.weights));
        const [pred, gt] = c.args.map((a) => toTensor(a.tensor));
        const net = LightCNNFeatures.load(parseSafetensors(weightsFixture(c.weights)));
        assertClose(net.run(pred), toTensor(c.features!), { what: `${c.id}: features` });
        net.dispose();
        assertClose(loss.forward(pred, gt), toTensor(c.output), { what: `${c.id}: output` });
        const g = tf.grad((t: tf.Tensor) => loss.forward(t, gt))(pred);
        assertClose(g, toTensor(c.grads.pred), { what: `${c.id}: gradient`, atol: 1e-6 });
        const g1 = (t: tf.Tensor) => tf.grad((u: tf.Tensor) => loss.forward(u, gt))(t);
        const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.square(g1(t))))(pred);
        assertClose(g2, toTensor(c.grads2!.pred), {
          what: `${c.id}: second-order gradient`,
          atol: 1e-6,
        });
        loss.dispose();
      });
    }
  });

  test("a 'module.'-prefixed checkpoint loads; wrong shapes are WeightsErrors", () => {
    const st = parseSafetensors(weightsFixture('lightcnn_small.safetensors'));
    const map: Record<string, tf.Tensor> = {};
    for (const n of st.names()) map[`module.${n}`] = st.tensor(n);
    LightCNNFeatures.load(tensorMapSource(map)).dispose();
    const odd = { ...map, 'module.features.2.filter.weight': tf.zeros([5, 4, 1, 1]) };
    assert.throws(
      () => LightCNNFeatures.load(tensorMapSource(odd, 'odd')),
      (e: Error) => e instanceof WeightsError && /even number of output channels/.test(e.message),
    );
    const wrongKernel = { ...map, 'module.features.3.filter.weight': tf.zeros([12, 4, 5, 5]) };
    assert.throws(
      () => LightCNNFeatures.load(tensorMapSource(wrongKernel, 'edited')),
      /weight 'module.features.3.filter.weight' in edited must have shape \[\?, 4, 3, 3\], got \[12, 4, 5, 5\]/,
    );
    tf.dispose([
      ...Object.values(map),
      odd['module.features.2.filter.weight'],
      wrongKernel['module.features.3.filter.weight'],
    ]);
  });

  test('errors: criterion, missing pretrained, no weights, a declared input range; no leaks', () => {
    assert.throws(
      () => new LightCNNFeatureLoss({ pretrained: 'x', criterion: 'l2' as 'l1' }),
      ConfigError,
    );
    assert.throws(
      () => LOSSES.build({ type: 'LightCNNFeatureLoss' }),
      /option 'pretrained' must be a string, got undefined/,
    );
    const x = uniform([1, 8, 8, 3], 1, -1, 1);
    const bare = new LightCNNFeatureLoss({ pretrained: 'light_cnn_feature.safetensors' });
    assert.throws(
      () => bare.forward(x, x),
      /no LightCNN weights loaded \(pretrained: light_cnn_feature.safetensors\)/,
    );
    const loss = new LightCNNFeatureLoss({ pretrained: 'p', input_range: [-1, 1] });
    loss.loadWeights(weightsFixture('lightcnn_small.safetensors'));
    const big = tf.mul(x, 255);
    assert.throws(
      () => loss.forward(big, x),
      /'pred' must be an image in \[-1, 1\], got values in/,
    );
    const zeros = tf.zerosLike(x);
    assertNoLeak(() => loss.forward(x, zeros), 3);
    assertNoLeak(() => tf.grad((t: tf.Tensor) => loss.forward(t, x))(x), 3);
    loss.dispose();
    tf.dispose([x, big, zeros]);
  });

  test('a passed network needs no pretrained; images in any range unless input_range is set', () => {
    const net = (t: tf.Tensor) => tf.mean(t, [1, 2]);
    const pred = tf.fill([1, 4, 4, 3], 200);
    const gt = tf.fill([1, 4, 4, 3], 100);
    const loss = new LightCNNFeatureLoss({}, net);
    assert.equal(loss.cfg.pretrained, undefined);
    // MMagic's forward hands the images to LightCNN as they are: 0..255 is accepted.
    const value = loss.forward(pred, gt);
    assertClose(value, 100);
    assert.throws(
      () => new LightCNNFeatureLoss({}),
      (e: Error) =>
        e instanceof ConfigError &&
        /option 'pretrained' must be a string, got undefined \(the path of the LightCNN weights; leave it out only when passing a network\)/.test(
          e.message,
        ),
    );
    const ranged = new LightCNNFeatureLoss({ input_range: [0, 1] }, net);
    assert.throws(() => ranged.forward(pred, gt), /'pred' must be an image in \[0, 1\]/);
    assertNoLeak(() => loss.forward(pred, gt), 3);
    tf.dispose([pred, gt, value]);
  });
});
