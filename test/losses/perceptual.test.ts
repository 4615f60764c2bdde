/**
 * PerceptualLoss against PyTorch (test/reference/perceptual/perceptual.json, small VGG-shaped
 * networks whose weights are read from the safetensors files the generator wrote), plus errors,
 * input ranges of the network losses, pluggable networks and memory. TransferalPerceptualLoss is
 * in transferal.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  CLIPLoss,
  ConfigError,
  FaceIdLoss,
  featureDistance,
  gramMatrix,
  LOSSES,
  PerceptualLoss,
  type PerceptualLossOptions,
  parseSafetensors,
  ShapeError,
  VGGFeatures,
  vggLayers,
  WeightsError,
} from '../../src/index.ts';
import { loadFaceApiRecognitionNet } from '../../src/node.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { checkPerceptualCase, type PerceptualCase } from '../helpers/perceptual-cases.ts';
import { loadCases, weightsFixture } from '../helpers/reference.ts';
import { assertClose, assertNoLeak, uniform } from '../helpers/tensors.ts';

const cases = loadCases<PerceptualCase>('perceptual/perceptual.json');

/** {@link checkPerceptualCase} with the case's weights file read from disk. */
const checkPerceptual = (c: PerceptualCase) => checkPerceptualCase(c, weightsFixture(c.weights!));

describe('PerceptualLoss', () => {
  before(async () => {
    await useTestBackend();
  });

  const basicsr = (c: PerceptualCase) => c.id.startsWith('PerceptualLoss/BasicSR/');
  const percep = cases.filter((c) => c.type === 'PerceptualLoss' && !basicsr(c));
  test(`${percep.length} PyTorch cases: percep, style and their gradients (vgg16/vgg19 via safetensors)`, () => {
    for (const c of percep) tf.tidy(() => checkPerceptual(c));
  });

  const peer = cases.filter(basicsr);
  test(`${peer.length} PyTorch cases of BasicSR's keys: layer names, criterion fro/l2, range_norm, a negative weight, x = gt (zero fro gradient)`, () => {
    assert.ok(peer.length >= 8);
    for (const c of peer) tf.tidy(() => checkPerceptual(c));
  });

  test('torchvision layer indices', () => {
    const v19 = vggLayers('vgg19');
    assert.equal(v19.length, 37);
    assert.deepEqual(
      [2, 7, 16, 34, 35, 36].map((i) => v19[i].name),
      ['conv1_2', 'conv2_2', 'conv3_4', 'conv5_4', 'relu5_4', 'pool5'],
    );
    const v16 = vggLayers('vgg16');
    assert.deepEqual(
      v16.filter((l) => l.kind === 'pool').map((l) => l.index),
      [4, 9, 16, 23, 30],
    );
    assert.equal(v16[25].name, 'relu5_1');
  });

  test('the VGG returns exactly the requested layers', () => {
    const vgg = VGGFeatures.load(
      'vgg16',
      parseSafetensors(weightsFixture('vgg16_small.safetensors')),
    );
    const x = uniform([1, 32, 32, 3], 1);
    const out = vgg.run(x, ['2', '10', '30']);
    assert.deepEqual(Object.keys(out).sort(), ['10', '2', '30']);
    assert.deepEqual(out['30'].shape, [1, 1, 1, 8]);
    assert.throws(() => vgg.run(x, ['100']), /layer '100' is not an index of features \(0\.\.30/);
    tf.dispose([x, out]);
    vgg.dispose();
  });

  test('config errors: unknown vgg_type, criterion, layer; mismatched pretrained', () => {
    assert.throws(
      () => new PerceptualLoss({ layer_weights: { '1': 1 }, vgg_type: 'igccc' as 'vgg19' }),
      ConfigError,
    );
    assert.throws(
      () => new PerceptualLoss({ layer_weights: { '1': 1 }, criterion: 'igccc' as 'l1' }),
      /criterion' must be one of 'l1'\|'mse'\|'l2'\|'fro'/,
    );
    assert.throws(
      () => new PerceptualLoss({ layer_weights: { '37': 1 } }),
      /layer '37' is not an index of features \(0\.\.36/,
    );
    assert.throws(
      () => new PerceptualLoss({ layer_weights: { '1': 1 }, vgg_type: 'vgg16' }),
      /does not match vgg_type 'vgg16'/,
    );
    assert.throws(() => LOSSES.build({ type: 'PerceptualLoss' }), /layer_weights/);
  });

  test("BasicSR's layer names: one kind per dict, names of the vgg_type, closest names suggested", () => {
    const make = (cfg: Partial<PerceptualLossOptions>) =>
      new PerceptualLoss({ layer_weights: { conv5_4: 1 }, ...cfg });
    assert.throws(
      () => make({ layer_weights: { '34': 1, relu5_4: 1 } }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message ===
          "PerceptualLoss: 'layer_weights' mixes torchvision indices ('34') and layer names ('relu5_4'); use one kind, e.g. 'conv5_4' for '34'",
    );
    assert.throws(
      () => make({ layer_weights_style: { '2': 1, conv2_2: 1, '7': 1 } }),
      /'layer_weights_style' mixes torchvision indices \('2', '7'\) and layer names \('conv2_2'\); use one kind, e\.g\. 'conv1_2' for '2', 'conv2_2' for '7'/,
    );
    assert.throws(
      () =>
        make({
          layer_weights: { conv3_4: 1 },
          vgg_type: 'vgg16',
          pretrained: 'torchvision://vgg16',
        }),
      (e: Error) =>
        e instanceof ConfigError &&
        /'layer_weights' names layer 'conv3_4', which vgg16 does not have \(its layers: conv1_1 \.\. pool5, or indices 0\.\.30\)\. Did you mean 'conv3_1' or 'conv3_2' or 'conv3_3'\?/.test(
          e.message,
        ),
    );
    assert.throws(() => make({ layer_weights: { Relu5_4x: 1 } }), /Did you mean 'relu5_4'/);
    assert.throws(() => make({ layer_weights: { '37': 1 } }), /layer '37' is not an index/);
    // Different kinds in the two dicts are fine: each names its layers one way.
    const both = make({ layer_weights_style: { '35': 1 } });
    assert.deepEqual(both.layers, ['conv5_4', '35']);
    // A network of your own gets the keys as they are, names or not.
    const own = new PerceptualLoss({ layer_weights: { conv9_9: 1, '99': 1 } }, (x) => ({
      conv9_9: x,
      '99': x,
    }));
    assert.deepEqual(own.layers, ['99', 'conv9_9']);
  });

  test('a VGG returns its taps under the layer names: named and indexed configs agree, and nothing leaks', () => {
    const vgg = VGGFeatures.load(
      'vgg19',
      parseSafetensors(weightsFixture('vgg19_small.safetensors')),
    );
    const cfg = { criterion: 'fro', style_weight: 3, layer_weights_style: { relu2_1: 2 } } as const;
    const named = new PerceptualLoss({ ...cfg, layer_weights: { conv1_2: 1, pool2: 0.5 } }, vgg);
    const indexed = new PerceptualLoss(
      { ...cfg, layer_weights: { '2': 1, '9': 0.5 }, layer_weights_style: { '6': 2 } },
      vgg,
    );
    const x = uniform([1, 8, 8, 3], 6, -1, 1);
    const gt = uniform([1, 8, 8, 3], 7, -1, 1);
    const a = named.forward(x, gt) as tf.Tensor[];
    const b = indexed.forward(x, gt) as tf.Tensor[];
    assertClose(a[0], b[0]);
    assertClose(a[1], b[1]);
    assertNoLeak(() => named.forward(x, gt) as tf.Tensor[], 2);
    assertNoLeak(() => tf.grad((t: tf.Tensor) => named.forward(t, gt)[1]!)(x), 1);
    tf.dispose([x, gt, ...a, ...b]);
    vgg.dispose();
  });

  test("range_norm is BasicSR's norm_img: alone it sets it, equal to it is fine, different is a ConfigError", () => {
    const layer_weights = { conv1_1: 1 };
    assert.equal(new PerceptualLoss({ layer_weights, range_norm: false }).cfg.norm_img, false);
    assert.equal(new PerceptualLoss({ layer_weights, range_norm: true }).cfg.norm_img, true);
    assert.equal(new PerceptualLoss({ layer_weights }).cfg.norm_img, true);
    const unit = new PerceptualLoss({ layer_weights, range_norm: false, norm_img: false });
    assert.deepEqual(unit.inputRange, [0, 1]);
    assert.throws(
      () =>
        LOSSES.build({ type: 'PerceptualLoss', layer_weights, range_norm: false, norm_img: true }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message ===
          "PerceptualLoss: 'range_norm' (BasicSR's name for 'norm_img') is false but 'norm_img' is true; give one of them, or both equal",
    );
  });

  test("criterion 'l2' is BasicSR's name for 'mse'; an unknown criterion lists all four", () => {
    const x = uniform([1, 4, 4, 3], 8);
    const y = uniform([1, 4, 4, 3], 9);
    assert.equal(
      featureDistance(x, y, 'l2').dataSync()[0],
      featureDistance(x, y, 'mse').dataSync()[0],
    );
    assert.throws(
      () => new PerceptualLoss({ layer_weights: { '1': 1 }, criterion: 'frob' as 'fro' }),
      /'criterion' must be one of 'l1'\|'mse'\|'l2'\|'fro', got 'frob'/,
    );
    tf.dispose([x, y]);
  });

  test('an image outside the expected range is an error naming both ranges', () => {
    const loss = new PerceptualLoss({ layer_weights: { '2': 1 } }, () => ({ '2': tf.zeros([1]) }));
    const img255 = tf.fill([1, 4, 4, 3], 200);
    const ok = tf.zeros([1, 4, 4, 3]);
    assert.throws(
      () => loss.forward(img255, ok),
      (e: Error) =>
        e instanceof ShapeError &&
        /'x' must be an image in \[-1, 1\], got values in \[200, 200\] \(an image in 0\.\.255\?/.test(
          e.message,
        ),
    );
    const unit = new PerceptualLoss({ layer_weights: { '2': 1 }, norm_img: false }, () => ({
      '2': tf.zeros([1]),
    }));
    assert.throws(
      () => unit.forward(ok, tf.fill([1, 4, 4, 3], -0.5)),
      /'gt' must be an image in \[0, 1\], got values in \[-0\.5, -0\.5\]/,
    );
    const any = new PerceptualLoss({ layer_weights: { '2': 1 }, input_range: 'any' }, (x) => ({
      '2': x,
    }));
    tf.dispose(any.forward(img255, ok).filter((t) => t !== null));
    tf.dispose([img255, ok]);
  });

  test('no weights loaded is a WeightsError; a pluggable network works', () => {
    const x = uniform([1, 8, 8, 3], 2, -1, 1);
    const gt = uniform([1, 8, 8, 3], 3, -1, 1);
    const bare = new PerceptualLoss({ layer_weights: { '2': 1 } });
    assert.throws(
      () => bare.forward(x, gt),
      (e: Error) => e instanceof WeightsError && /no VGG weights loaded/.test(e.message),
    );
    // Any (x) => features function, with its own layer keys.
    const net = (t: tf.Tensor) => ({
      pixels: t,
      pooled: tf.avgPool(t as tf.Tensor4D, 2, 2, 'valid'),
    });
    const loss = new PerceptualLoss(
      {
        layer_weights: { pixels: 1, pooled: 2 },
        use_input_norm: false,
        norm_img: false,
        input_range: 'any',
        style_weight: 0,
      },
      net,
    );
    const [p, s] = loss.forward(x, gt);
    assert.equal(s, null);
    const want = tf.tidy(() =>
      tf.add(
        tf.mean(tf.abs(tf.sub(x, gt))),
        tf.mul(tf.mean(tf.abs(tf.sub(net(x).pooled, net(gt).pooled))), 2),
      ),
    );
    assertClose(p!, want);
    tf.dispose([x, gt, p!, want]);
  });

  test('gram matrix: F Fᵀ / (C·H·W) per sample', () => {
    const f = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    // channels: c0 = [1, 3, 5, 7], c1 = [2, 4, 6, 8]
    assertClose(
      gramMatrix(f),
      tf.tensor3d(
        [84, 100, 100, 120].map((v) => v / 8),
        [1, 2, 2],
      ),
    );
    f.dispose();
  });

  test('no tensors leak (forward and gradient)', () => {
    const loss = new PerceptualLoss({ layer_weights: { '2': 1, '7': 0.5 } });
    loss.loadWeights(weightsFixture('vgg19_small.safetensors'));
    const x = uniform([1, 8, 8, 3], 4, -1, 1);
    const gt = uniform([1, 8, 8, 3], 5, -1, 1);
    assertNoLeak(() => loss.forward(x, gt) as tf.Tensor[], 3);
    assertNoLeak(() => tf.grad((t: tf.Tensor) => loss.forward(t, gt)[0]!)(x), 3);
    const before = tf.memory().numTensors;
    loss.dispose();
    assert.ok(tf.memory().numTensors < before, 'dispose frees the VGG weights');
    tf.dispose([x, gt]);
  });
});

describe('input ranges of the network losses', () => {
  before(async () => {
    await useTestBackend();
  });

  /** N×4×4×3 filled with `v`. */
  const image = (v: number) => tf.fill([1, 4, 4, 3], v);
  const features = (x: tf.Tensor) => ({ '2': tf.mean(x, [1, 2]) });

  /** The values of `[percep, style]`, which it frees. */
  function values(parts: (tf.Tensor | null)[]): number[] {
    const out = parts.map((t) => t?.dataSync()[0] ?? Number.NaN);
    tf.dispose(parts.filter((t) => t !== null));
    return out;
  }

  test('PerceptualLoss checks the range MMagic assumes: [-1, 1] with norm_img, [0, 1] with use_input_norm, else none', () => {
    const [lo, hi, big] = [image(-1), image(1), image(200)];
    const loss = (cfg: { norm_img: boolean; use_input_norm: boolean }) =>
      new PerceptualLoss({ layer_weights: { '2': 1 }, style_weight: 0, ...cfg }, features);
    // Neither normalisation: MMagic feeds the images to the VGG as they are.
    const raw = loss({ norm_img: false, use_input_norm: false });
    assert.deepEqual(values(raw.forward(lo, hi)), [2, Number.NaN]);
    assert.deepEqual(values(raw.forward(big, lo)), [201, Number.NaN]);
    assert.throws(
      () => loss({ norm_img: false, use_input_norm: true }).forward(lo, hi),
      /'x' must be an image in \[0, 1\], got values in \[-1, -1\]/,
    );
    assert.throws(
      () => loss({ norm_img: true, use_input_norm: false }).forward(big, hi),
      /'x' must be an image in \[-1, 1\], got values in \[200, 200\]/,
    );
    tf.dispose([lo, hi, big]);
  });

  test('FaceIdLoss checks [-1, 1] only with the dlib net, whose preprocessing maps it to 0..255; CLIPLoss checks none', async () => {
    const [big, hi] = [image(200), image(1)];
    const embed = (x: tf.Tensor) => tf.mean(x, [1, 2]);
    const value = new FaceIdLoss({}, embed).forward(big, big);
    assertClose(value, 0, { atol: 1e-6 });
    const dlib = await loadFaceApiRecognitionNet();
    assert.throws(
      () => new FaceIdLoss({}, dlib).forward(big, hi),
      (e: Error) =>
        e instanceof ShapeError &&
        /'pred' must be an image in \[-1, 1\], got values in \[200, 200\]/.test(e.message),
    );
    dlib.dispose();
    const text = tf.zeros([2, 77], 'int32');
    const clip = new CLIPLoss({ clip_model: { in_size: 4, pool_size: 4 } }, (i, t) =>
      tf.zeros([i.shape[0], t.shape[0]]),
    );
    const logits = clip.forward(big, text);
    assert.deepEqual(logits.shape, [1, 2]);
    tf.dispose([big, hi, value, text, logits]);
  });

  test('a network passed to PerceptualLoss needs no pretrained matching vgg_type', () => {
    const x = image(0.5);
    const loss = new PerceptualLoss(
      { layer_weights: { '2': 1 }, vgg_type: 'vgg16', style_weight: 0 },
      features,
    );
    assert.equal(loss.cfg.pretrained, 'torchvision://vgg19');
    assert.deepEqual(values(loss.forward(x, x)), [0, Number.NaN]);
    assert.throws(
      () => new PerceptualLoss({ layer_weights: { '2': 1 }, vgg_type: 'vgg16' }),
      /'pretrained' torchvision:\/\/vgg19 does not match vgg_type 'vgg16'/,
    );
    x.dispose();
  });
});
