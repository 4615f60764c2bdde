/**
 * DISTS (DISTS_pytorch, VGG16 with L2 pooling) against PyTorch (test/reference/lpips_dists.json,
 * made by generate_lpips_dists.py with the small VGG16 perceptual/vgg16_small.safetensors and
 * random α, β in perceptual/dists_small.safetensors), the battery, errors, loading and memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  DISTS,
  dists,
  LOSSES,
  l2Pool2d,
  parseSafetensors,
  ShapeError,
  VGG16_TAPS,
  VGGFeatures,
  WeightsError,
} from '../../src/index.ts';
import { loadDISTSWeights } from '../../src/node.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { runBattery } from '../helpers/battery.ts';
import { checkLossCase, loadCases, toTensor, weightsFixture } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak, uniform } from '../helpers/tensors.ts';

const BACKBONE = 'vgg16_small.safetensors';
const WEIGHTS = 'dists_small.safetensors';
const fixturePath = (name: string) =>
  fileURLToPath(new URL(`../reference/perceptual/${name}`, import.meta.url));

const loadFixtures = (loss: DISTS) =>
  loss.loadWeights(weightsFixture(BACKBONE), weightsFixture(WEIGHTS));

function small(cfg: ConstructorParameters<typeof DISTS>[0] = {}): DISTS {
  const loss = new DISTS({ model_path: WEIGHTS, pretrained: BACKBONE, ...cfg });
  loadFixtures(loss);
  return loss;
}

/** The small VGG16 with L2 pooling and α, β as plain tensors, for the formula. */
let formulaNet: { vgg: VGGFeatures; alpha: tf.Tensor; beta: tf.Tensor };
before(async () => {
  await useTestBackend();
  const file = parseSafetensors(weightsFixture(WEIGHTS));
  const read = (name: string) => {
    const d = file.read(name);
    return tf.tensor(d.values, [d.values.length], 'float32');
  };
  formulaNet = {
    vgg: VGGFeatures.load('vgg16', parseSafetensors(weightsFixture(BACKBONE)), {
      upTo: 29,
      pool: 'l2',
    }),
    alpha: read('alpha'),
    beta: read('beta'),
  };
});

/**
 * The official DISTS forward in plain ops over genloss's VGG16: stages [x, taps of the
 * ImageNet-normalised x], S1 and S2 per channel with the official covariance E[xy] − μxμy, α and
 * β divided by their total.
 */
function distsFormula(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const { vgg, alpha, beta } = formulaNet;
  const prep = (t: tf.Tensor) =>
    tf.div(tf.sub(t, tf.tensor1d([0.485, 0.456, 0.406])), tf.tensor1d([0.229, 0.224, 0.225]));
  const stages = (t: tf.Tensor) => {
    const out = vgg.run(prep(t), VGG16_TAPS);
    return [t, ...VGG16_TAPS.map((k) => out[k])];
  };
  const [f0, f1] = [stages(x), stages(y)];
  const s1: tf.Tensor[] = [];
  const s2: tf.Tensor[] = [];
  f0.forEach((a, k) => {
    const b = f1[k];
    const mx = tf.mean(a, [1, 2]);
    const my = tf.mean(b, [1, 2]);
    const vx = tf.mean(tf.square(tf.sub(a, tf.mean(a, [1, 2], true))), [1, 2]);
    const vy = tf.mean(tf.square(tf.sub(b, tf.mean(b, [1, 2], true))), [1, 2]);
    const cov = tf.sub(tf.mean(tf.mul(a, b), [1, 2]), tf.mul(mx, my));
    s1.push(
      tf.div(
        tf.add(tf.mul(tf.mul(mx, my), 2), 1e-6),
        tf.add(tf.add(tf.square(mx), tf.square(my)), 1e-6),
      ),
    );
    s2.push(tf.div(tf.add(tf.mul(cov, 2), 1e-6), tf.add(tf.add(vx, vy), 1e-6)));
  });
  const wSum = tf.add(tf.sum(alpha), tf.sum(beta));
  const total = tf.add(
    tf.sum(tf.mul(tf.concat(s1, 1), tf.div(alpha, wSum)), 1),
    tf.sum(tf.mul(tf.concat(s2, 1), tf.div(beta, wSum)), 1),
  );
  return tf.sub(1, total);
}

describeOnEachBackend('DISTS: PyTorch reference cases (lpips_dists.json)', () => {
  const cases = loadCases('lpips_dists.json', 'DISTS');
  test(`${cases.length} cases: outputs and gradients w.r.t. x and y within 1e-5 + 5e-4·|want|`, () => {
    assert.ok(cases.length >= 5);
    for (const c of cases) tf.tidy(() => checkLossCase(c, loadFixtures));
  });
});

describe('DISTS: battery', () => {
  // No finite differences: the VGG's ReLUs put kinks within the step of most pixels; the
  // PyTorch cases check the gradients w.r.t. both images.
  runBattery({
    type: 'DISTS',
    config: { model_path: WEIGHTS, pretrained: BACKBONE },
    setup: loadFixtures,
    args: () => [uniform([2, 12, 10, 3], 1), uniform([2, 12, 10, 3], 2)],
    gradArgs: [],
    reference: (x, y) => tf.mean(distsFormula(x, y)),
  });
});

describe('DISTS: module and function', () => {
  test('defaults and loss name', () => {
    assert.deepEqual(new DISTS().cfg, {
      loss_weight: 1,
      loss_name: 'loss_dists',
      model_path: null,
      pretrained: 'torchvision://vgg16',
      reduction: 'mean',
    });
  });

  test('the module is loss_weight · reduce(dists(x, y)); the function is the formula', () => {
    tf.tidy(() => {
      const x = uniform([3, 19, 14, 3], 3);
      const y = uniform([3, 19, 14, 3], 4);
      const { vgg, alpha, beta } = formulaNet;
      const features = (t: tf.Tensor) => {
        const out = vgg.run(t, VGG16_TAPS);
        return VGG16_TAPS.map((k) => out[k]);
      };
      const values = dists(x, y, { features, alpha, beta });
      assert.deepEqual(values.shape, [3]);
      // The formula's E[xy] − μxμy loses float32 digits that the centred covariance keeps.
      assertClose(values, distsFormula(x, y), { atol: 1e-5, rtol: 1e-5 });
      for (const reduction of ['none', 'mean', 'sum'] as const) {
        const reduce = (t: tf.Tensor) =>
          reduction === 'none' ? t : reduction === 'sum' ? tf.sum(t) : tf.mean(t);
        const m = small({ reduction, loss_weight: 0.5 });
        assertClose(m.forward(x, y), tf.mul(reduce(values), 0.5), { what: reduction });
        m.dispose();
      }
    });
  });

  test('L2 pooling: sqrt of the [1, 2, 1]ᵀ[1, 2, 1]/16 window over x², stride 2, padding 1', () => {
    tf.tidy(() => {
      const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [1, 3, 4, 1]);
      const sq = (v: number) => v * v;
      // Output (0, 0) covers rows −1..1 and columns −1..1 (zero padding): the window's lower
      // right 2×2 over x[0..1][0..1]; output (1, 1) is centred on x[2][2] with row 3 padded.
      const at00 = Math.sqrt((4 * sq(1) + 2 * sq(2) + 2 * sq(5) + sq(6)) / 16 + 1e-12);
      const at11 = Math.sqrt(
        (sq(6) + 2 * sq(7) + sq(8) + 2 * sq(10) + 4 * sq(11) + 2 * sq(12)) / 16 + 1e-12,
      );
      const out = l2Pool2d(x);
      assert.deepEqual(out.shape, [1, 2, 2, 1]);
      const v = out.dataSync();
      assertClose(v[0], at00, { atol: 1e-6, rtol: 1e-6 });
      assertClose(v[3], at11, { atol: 1e-6, rtol: 1e-6 });
    });
  });

  test('identical images: 0 with finite gradients, also for a flat image', () => {
    tf.tidy(() => {
      const loss = small({ reduction: 'none' });
      for (const x of [uniform([2, 16, 16, 3], 5), tf.fill([2, 16, 16, 3], 0.5)]) {
        assertClose(loss.forward(x, x), [0, 0], { atol: 1e-6 });
        const [gx, gy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(loss.forward(a, b)))([
          x,
          x,
        ]);
        for (const g of [gx, gy]) {
          assert.equal(tf.all(tf.isFinite(g)).dataSync()[0], 1);
          assert.ok(tf.max(tf.abs(g)).dataSync()[0] < 1e-4);
        }
      }
      loss.dispose();
    });
  });

  test('no tensor leaks: forward, gradient, failed calls; dispose frees the weights', () => {
    const before = tf.memory().numTensors;
    const loss = small();
    const x = uniform([1, 8, 8, 3], 6);
    const y = uniform([1, 8, 8, 3], 7);
    const negative = tf.sub(x, 1);
    assertNoLeak(() => loss.forward(x, y), 5);
    assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => loss.forward(a, b))([x, y]), 3);
    assertFailsWithoutLeak(
      () => loss.forward(negative, y),
      (e) => e instanceof ShapeError,
    );
    loss.dispose();
    tf.dispose([x, y, negative]);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('DISTS: errors and loading', () => {
  test('images outside [0, 1], weights missing or of the wrong size — errors naming them', () => {
    tf.tidy(() => {
      const x = uniform([1, 8, 8, 3], 8);
      assert.throws(
        () => small().forward(tf.sub(tf.mul(x, 2), 1), x),
        /DISTS: 'x' must be an image in \[0, 1\], got values in \[-/,
      );
      assert.throws(
        () => new DISTS().forward(x, x),
        /DISTS: no weights loaded; call loss.loadWeights\(vgg16Bytes, headsBytes\) or loadDISTSWeights\(loss\)/,
      );
      const features = () => [x, x, x, x, x];
      const alpha = tf.ones([3 + 5 * 3 + 1]);
      assert.throws(
        () => dists(x, x, { features, alpha, beta: alpha }),
        (e: Error) =>
          e instanceof WeightsError &&
          e.message ===
            'dists: alpha and beta must have one value per channel of the six stages (3 + ΣC_k = 18), got 19 and 19',
      );
    });
    const loss = new DISTS({ model_path: 'dists.safetensors', pretrained: BACKBONE });
    const vgg = weightsFixture(BACKBONE);
    const bad: [() => void, string][] = [
      [
        () => loss.loadWeights(vgg),
        'DISTS: no heads weights given (model_path: dists.safetensors)',
      ],
      [
        () => loss.loadWeights(vgg, weightsFixture('lpips_heads_small.safetensors')),
        "DISTS: dists.safetensors has no weight 'alpha'.",
      ],
    ];
    for (const [call, message] of bad) {
      assertFailsWithoutLeak(
        call,
        (e) => e instanceof WeightsError && e.message.startsWith(message),
      );
    }
    loss.dispose();
  });

  test('loadDISTSWeights reads pretrained and model_path; torchvision:// and null are errors', async () => {
    const [c] = loadCases('lpips_dists.json', 'DISTS');
    const loss = LOSSES.build({
      type: 'DISTS',
      ...c.config,
      pretrained: fixturePath(BACKBONE),
      model_path: fixturePath(WEIGHTS),
    }) as DISTS;
    await loadDISTSWeights(loss);
    tf.tidy(() => {
      const [x, y] = c.args.map((a) => toTensor(a.tensor));
      assertClose(loss.forward(x, y), toTensor(c.output));
    });
    loss.dispose();
    await assert.rejects(
      loadDISTSWeights(new DISTS({ model_path: fixturePath(WEIGHTS) })),
      /DISTS: pretrained is torchvision:\/\/vgg16; genloss does not download/,
    );
    await assert.rejects(
      loadDISTSWeights(new DISTS(), { pretrained: fixturePath(BACKBONE) }),
      /DISTS: model_path is null; pass the path of DISTS_pytorch's weights.pt \(alpha, beta\) converted to safetensors/,
    );
  });
});
