/**
 * LPIPS (the official `lpips` package, VGG16) against PyTorch (test/reference/lpips_dists.json,
 * made by generate_lpips_dists.py with the small VGG16 perceptual/vgg16_small.safetensors and
 * random heads perceptual/lpips_heads_small.safetensors), the battery, errors, loading and memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  LOSSES,
  LPIPS,
  lpips,
  parseSafetensors,
  ShapeError,
  tensorMapSource,
  VGG16_TAPS,
  VGGFeatures,
  WeightsError,
} from '../../src/index.ts';
import { loadLPIPSWeights } from '../../src/node.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { runBattery } from '../helpers/battery.ts';
import { checkLossCase, loadCases, toTensor, weightsFixture } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak, uniform } from '../helpers/tensors.ts';

const BACKBONE = 'vgg16_small.safetensors';
const HEADS = 'lpips_heads_small.safetensors';
/** The path of a weights file the generator wrote (for the Node loader). */
const fixturePath = (name: string) =>
  fileURLToPath(new URL(`../reference/perceptual/${name}`, import.meta.url));

/** Loads the small VGG16 and heads into `loss` from their bytes. */
const loadFixtures = (loss: LPIPS) =>
  loss.loadWeights(weightsFixture(BACKBONE), weightsFixture(HEADS));

/** An `LPIPS` with the small weights. */
function small(cfg: ConstructorParameters<typeof LPIPS>[0] = {}): LPIPS {
  const loss = new LPIPS({ model_path: HEADS, pretrained: BACKBONE, ...cfg });
  loadFixtures(loss);
  return loss;
}

describeOnEachBackend('LPIPS: PyTorch reference cases (lpips_dists.json)', () => {
  const cases = loadCases('lpips_dists.json', 'LPIPS');
  test(`${cases.length} cases: outputs and gradients w.r.t. in0 and in1 within 1e-5 + 5e-4·|want|`, () => {
    assert.ok(cases.length >= 9);
    for (const c of cases) tf.tidy(() => checkLossCase(c, loadFixtures));
  });
});

/**
 * The official LPIPS forward (lpips: true, not spatial) in plain ops over genloss's VGG16: the
 * scaling layer, unit features, squared differences, heads, spatial mean, sum over the taps.
 */
function lpipsFormula(vgg: VGGFeatures, heads: tf.Tensor[], x: tf.Tensor, y: tf.Tensor) {
  const shift = tf.tensor1d([-0.03, -0.088, -0.188]);
  const scale = tf.tensor1d([0.458, 0.448, 0.45]);
  const taps = (t: tf.Tensor) => {
    const out = vgg.run(tf.div(tf.sub(t, shift), scale), VGG16_TAPS);
    return VGG16_TAPS.map((k) => out[k]);
  };
  const unit = (f: tf.Tensor) => tf.div(f, tf.add(tf.sqrt(tf.sum(tf.square(f), 3, true)), 1e-10));
  const [f0, f1] = [taps(x), taps(y)];
  const layers = f0.map((f, k) => {
    const d = tf.square(tf.sub(unit(f), unit(f1[k])));
    return tf.mean(tf.sum(tf.mul(d, tf.reshape(heads[k], [-1])), 3), [1, 2]);
  });
  return tf.addN(layers);
}

/** The small VGG16 (max-pools) and the five heads as plain tensors, for the formula. */
let formulaNet: { vgg: VGGFeatures; heads: tf.Tensor[] };
before(async () => {
  await useTestBackend();
  const file = parseSafetensors(weightsFixture(HEADS));
  formulaNet = {
    vgg: VGGFeatures.load('vgg16', parseSafetensors(weightsFixture(BACKBONE)), { upTo: 29 }),
    heads: VGG16_TAPS.map((_, k) => {
      const d = file.read(`lin${k}.model.1.weight`);
      return tf.tensor(d.values, d.shape, 'float32');
    }),
  };
});

describe('LPIPS: battery', () => {
  // No finite differences: at a step of 0.01 most pixels move some VGG unit across a ReLU or
  // max-pool kink; the PyTorch cases check the gradients w.r.t. both images.
  runBattery({
    type: 'LPIPS',
    config: { model_path: HEADS, pretrained: BACKBONE },
    setup: loadFixtures,
    args: () => [uniform([1, 16, 16, 3], 1, -1, 1), uniform([1, 16, 16, 3], 2, -1, 1)],
    gradArgs: [],
    reference: (x, y) => tf.mean(lpipsFormula(formulaNet.vgg, formulaNet.heads, x, y)),
  });
});

describe('LPIPS: module and function', () => {
  test("defaults: the official constructor's keys and values", () => {
    assert.deepEqual(new LPIPS().cfg, {
      loss_weight: 1,
      loss_name: 'loss_lpips',
      net: 'vgg',
      lpips: true,
      spatial: false,
      normalize: false,
      model_path: null,
      pretrained: 'torchvision://vgg16',
      reduction: 'mean',
    });
    assert.equal(new LPIPS().lossName(), 'loss_lpips');
  });

  test('the module is loss_weight · reduce(lpips(in0, in1)) for every reduction and switch', () => {
    tf.tidy(() => {
      const x = uniform([2, 20, 18, 3], 3, -1, 1);
      const y = uniform([2, 20, 18, 3], 4, -1, 1);
      const { vgg, heads } = formulaNet;
      const features = (t: tf.Tensor) => {
        const out = vgg.run(t, VGG16_TAPS);
        return VGG16_TAPS.map((k) => out[k]);
      };
      for (const learned of [true, false]) {
        for (const spatial of [true, false]) {
          const options = { lpips: learned, spatial };
          const values = lpips(x, y, { features, heads: learned ? heads : null }, options);
          assert.deepEqual(values.shape, spatial ? [2, 20, 18, 1] : [2]);
          for (const reduction of ['none', 'mean', 'sum'] as const) {
            const reduce = (t: tf.Tensor) =>
              reduction === 'none' ? t : reduction === 'sum' ? tf.sum(t) : tf.mean(t);
            const m = small({ ...options, reduction, loss_weight: 0.5 });
            const what = `lpips ${learned}, spatial ${spatial}, ${reduction}`;
            assertClose(m.forward(x, y), tf.mul(reduce(values), 0.5), { what });
            m.dispose();
          }
        }
      }
      assertClose(lpips(x, y, { features, heads }), lpipsFormula(vgg, heads, x, y), {
        atol: 1e-6,
        rtol: 1e-5,
      });
      // normalize: [0, 1] images are 2x − 1 of the [−1, 1] ones.
      const unitX = tf.div(tf.add(x, 1), 2);
      const unitY = tf.div(tf.add(y, 1), 2);
      assertClose(
        lpips(unitX, unitY, { features, heads }, { normalize: true }),
        lpips(x, y, { features, heads }),
        { atol: 1e-6, rtol: 1e-5 },
      );
    });
  });

  test('identical images give 0; a flat black image against another gives finite gradients', () => {
    tf.tidy(() => {
      const loss = small({ reduction: 'none' });
      const x = uniform([2, 16, 16, 3], 5, -1, 1);
      assertClose(loss.forward(x, x), [0, 0], { atol: 0 });
      // A flat image makes whole VGG maps 0 (every channel of a pixel after the ReLU), where
      // the unit normalisation's square root would give NaN gradients.
      const black = tf.fill([2, 16, 16, 3], -1);
      const [g0, g1] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(loss.forward(a, b)))([
        black,
        x,
      ]);
      for (const g of [g0, g1]) assert.equal(tf.all(tf.isFinite(g)).dataSync()[0], 1);
      loss.dispose();
    });
  });

  test('no tensor leaks: forward, gradient, failed calls; dispose frees the weights', () => {
    const before = tf.memory().numTensors;
    const loss = small({ spatial: true });
    const x = uniform([1, 16, 16, 3], 6, -1, 1);
    const y = uniform([1, 16, 16, 3], 7, -1, 1);
    const bright = tf.mul(x, 200);
    assertNoLeak(() => loss.forward(x, y), 5);
    assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => loss.forward(a, b))([x, y]), 3);
    assertFailsWithoutLeak(
      () => loss.forward(bright, y),
      (e) => e instanceof ShapeError,
    );
    loss.dispose();
    tf.dispose([x, y, bright]);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('LPIPS: errors', () => {
  test("config: net other than 'vgg', a torchvision model other than VGG16, unknown keys", () => {
    assert.throws(
      () => LOSSES.build({ type: 'LPIPS', net: 'alex' }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message ===
          "LPIPS: net 'alex' is not available: genloss has LPIPS on VGG16 only (net: 'vgg'); the official package's 'alex' and 'squeeze' need networks genloss does not have",
    );
    assert.throws(
      () => new LPIPS({ pretrained: 'torchvision://vgg19' }),
      /LPIPS: 'pretrained' torchvision:\/\/vgg19 is not VGG16/,
    );
    assert.throws(
      () => LOSSES.build({ type: 'LPIPS', version: '0.1' } as never),
      /LPIPS: unknown option 'version'/,
    );
    assert.throws(
      () => LOSSES.build({ type: 'LPIPS', spatial: 'yes' } as never),
      /LPIPS: option 'spatial' must be a boolean/,
    );
  });

  test('images: range, size, channels, shapes; the function checks its options', () => {
    tf.tidy(() => {
      const loss = small();
      const ok = uniform([1, 16, 16, 3], 8, -1, 1);
      assert.throws(
        () => loss.forward(tf.fill([1, 16, 16, 3], 200), ok),
        /LPIPS: 'in0' must be an image in \[-1, 1\], got values in \[200, 200\]/,
      );
      const unit = small({ normalize: true });
      assert.throws(
        () => unit.forward(tf.fill([1, 16, 16, 3], 0.5), ok),
        /LPIPS: 'in1' must be an image in \[0, 1\], got values in \[-/,
      );
      assert.throws(
        () => loss.forward(tf.zeros([1, 15, 16, 3]), tf.zeros([1, 15, 16, 3])),
        (e: Error) =>
          e instanceof ShapeError &&
          e.message ===
            'LPIPS: the images must be at least 16×16 pixels (relu5_3 of VGG16 follows 4 halvings), got 15×16',
      );
      assert.throws(
        () => loss.forward(tf.zeros([1, 16, 16, 1]), tf.zeros([1, 16, 16, 1])),
        /LPIPS: 'in0' must be an RGB image N×H×W×3, got 1 channels/,
      );
      assert.throws(
        () => loss.forward(ok, tf.zeros([1, 16, 17, 3])),
        /LPIPS: 'in1' must have the shape of 'in0'/,
      );
      const features = () => [ok];
      assert.throws(
        () => lpips(ok, ok, { features, heads: null }),
        (e: Error) =>
          e instanceof WeightsError &&
          e.message === 'lpips: lpips: true needs the 5 learned heads lin0…lin4, got none',
      );
      assert.throws(
        () => lpips(ok, ok, { features, heads: null }, { lpips: false }),
        /lpips: the feature network must return the 5 VGG16 taps relu1_2…relu5_3, got 1/,
      );
      assert.throws(
        () => lpips(ok, ok, { features, heads: null }, { spatial: 1 } as never),
        /lpips: 'spatial' must be a boolean, got 1/,
      );
      loss.dispose();
      unit.dispose();
    });
  });

  test('weights: none loaded, heads missing, garbage, a missing or wrong-shape head — without leaking', () => {
    const x = tf.zeros([1, 16, 16, 3]);
    assert.throws(
      () => new LPIPS().forward(x, x),
      (e: Error) =>
        e instanceof WeightsError &&
        /^LPIPS: no weights loaded; call loss.loadWeights\(vgg16Bytes, headsBytes\) or loadLPIPSWeights\(loss\)/.test(
          e.message,
        ),
    );
    const vgg = weightsFixture(BACKBONE);
    const loss = new LPIPS({ model_path: 'heads.safetensors', pretrained: BACKBONE });
    const heads = parseSafetensors(weightsFixture(HEADS));
    const tensors = Object.fromEntries(
      heads.names().map((name) => {
        const d = heads.read(name);
        return [name, tf.tensor(d.values, d.shape)];
      }),
    );
    tensors['lin2.model.1.weight'].dispose();
    tensors['lin2.model.1.weight'] = tf.zeros([1, 5, 1, 1]);
    const source = tensorMapSource(tensors, 'heads.safetensors');
    const bad: [() => void, string][] = [
      [
        () => loss.loadWeights(vgg),
        'LPIPS: no heads weights given (model_path: heads.safetensors); pass them as the second argument of loadWeights',
      ],
      [
        () => loss.loadWeights(vgg, new Uint8Array([1, 2, 3])),
        'heads.safetensors: not a valid safetensors file: the file has 3 bytes, fewer than the 8-byte header length',
      ],
      [
        () => loss.loadWeights(vgg, weightsFixture('dists_small.safetensors')),
        "LPIPS: heads.safetensors has no weight 'lin0.model.1.weight'.",
      ],
      [
        () => loss.loadWeights(vgg, source),
        "LPIPS: weight 'lin2.model.1.weight' in heads.safetensors must have shape [1, 8, 1, 1], got [1, 5, 1, 1]",
      ],
      [
        () =>
          loss.loadWeights(weightsFixture('vgg19_small.safetensors'), source, {
            pretrained: 'vgg19_small.safetensors',
          }),
        "VGGFeatures(vgg16): vgg19_small.safetensors has no weight 'features.17.weight'.",
      ],
    ];
    for (const [call, message] of bad) {
      assertFailsWithoutLeak(
        call,
        (e) => e instanceof WeightsError && e.message.startsWith(message),
      );
    }
    // lpips: false reads no heads.
    const plain = new LPIPS({ lpips: false });
    plain.loadWeights(vgg);
    tf.dispose(plain.forward(x, x));
    plain.dispose();
    loss.dispose();
    tf.dispose([x, ...Object.values(tensors)]);
  });
});

describe('LPIPS: Node loader (genloss/node)', () => {
  test('loadLPIPSWeights reads pretrained and model_path: the same values as loadWeights', async () => {
    const [c] = loadCases('lpips_dists.json', 'LPIPS');
    const loss = LOSSES.build({
      type: 'LPIPS',
      ...c.config,
      pretrained: fixturePath(BACKBONE),
      model_path: fixturePath(HEADS),
    }) as LPIPS;
    await loadLPIPSWeights(loss);
    const other = new LPIPS({ lpips: false });
    await loadLPIPSWeights(other, { pretrained: fixturePath(BACKBONE) });
    tf.tidy(() => {
      const [x, y] = c.args.map((a) => toTensor(a.tensor));
      assertClose(loss.forward(x, y), toTensor(c.output));
      assert.ok(other.forward(x, y).dataSync()[0] > 0);
    });
    loss.dispose();
    other.dispose();
  });

  test('torchvision://, a null model_path, a missing file: WeightsErrors naming them', async () => {
    await assert.rejects(
      loadLPIPSWeights(new LPIPS()),
      /LPIPS: pretrained is torchvision:\/\/vgg16; genloss does not download/,
    );
    await assert.rejects(
      loadLPIPSWeights(new LPIPS({ pretrained: fixturePath(BACKBONE) })),
      /LPIPS: model_path is null; pass the path of lpips's weights\/v0.1\/vgg.pth converted to safetensors/,
    );
    await assert.rejects(
      loadLPIPSWeights(new LPIPS({ pretrained: fixturePath(BACKBONE) }), {
        model_path: '/nonexistent/lpips_vgg.safetensors',
      }),
      (e: Error) =>
        e instanceof WeightsError &&
        e.message.startsWith('cannot read safetensors file /nonexistent/lpips_vgg.safetensors'),
    );
  });
});
