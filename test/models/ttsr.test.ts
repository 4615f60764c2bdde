/**
 * MMagic's TTSR in genloss: the networks of src/nets/ttsr.ts (LTE, SearchTransformer,
 * TTSRNet) against PyTorch (test/reference/ttsr.json, made by generate_ttsr.py: outputs and the
 * gradients w.r.t. every input), and the model of src/models/ttsr.ts: its losses and where their
 * gradients go, both optimizers stepping, `pixel_init` gating, atomic steps, no leaks, bad inputs
 * and configs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '../../src/autodiff/stop-gradient.ts';
import {
  ConfigError,
  NonFiniteLossError,
  ShapeError,
  WeightsError,
} from '../../src/core/errors.ts';
import { tensorMapSource } from '../../src/io/tensor-source.ts';
import type { ImageBatch } from '../../src/models/image-to-image.ts';
import { TTSR, type TTSRNets } from '../../src/models/ttsr.ts';
import { loadLteFromVgg19, lte, searchTransformer, ttsrNet } from '../../src/nets/ttsr.ts';
import { buildNet } from '../../src/train/architectures.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { valuesOfNet } from '../helpers/image-to-image.ts';
import { type RefTensor, readReference, toTensor } from '../helpers/reference.ts';
import { assertClose } from '../helpers/tensors.ts';

interface NetCase {
  id: string;
  config?: Record<string, unknown>;
  weights?: Record<string, RefTensor>;
  x?: RefTensor;
  args?: Record<string, RefTensor>;
  outputs: RefTensor[];
  cotangents: RefTensor[];
  grads: Record<string, RefTensor>;
}

const cases = readReference<{ cases: NetCase[] }>('ttsr.json').cases;
const caseOf = (prefix: string) => cases.filter((c) => c.id.startsWith(prefix));

/** Loads PyTorch weights (convolutions OIHW) into a TTSR network by their names. */
function loadWeights(net: tf.LayersModel, weights: Record<string, RefTensor>): void {
  const values = net.weights.map((w) => {
    const name = w.originalName.slice(w.originalName.indexOf('/') + 1);
    const t = weights[name];
    assert.ok(t, `no reference weight ${name}`);
    return tf.tidy(() => {
      const v = tf.tensor(t.data, t.shape, 'float32');
      return v.rank === 4 ? tf.transpose(v, [2, 3, 1, 0]) : v;
    });
  });
  assert.equal(Object.keys(weights).length, values.length, 'every reference weight is used');
  net.setWeights(values);
  tf.dispose(values);
}

/** Checks outputs and the gradients of Σ output·cotangent w.r.t. the named inputs. */
function checkNetCase(
  c: NetCase,
  inputs: Record<string, tf.Tensor>,
  run: (xs: Record<string, tf.Tensor>) => tf.Tensor[],
): void {
  tf.tidy(() => {
    const outs = run(inputs);
    outs.forEach((o, i) => {
      assertClose(o, toTensor(c.outputs[i]), { what: `${c.id}: output ${i}` });
    });
    const names = Object.keys(c.grads);
    const grads = tf.grads((...xs: tf.Tensor[]) => {
      const ys = run(Object.fromEntries(names.map((n, i) => [n, xs[i]])));
      return tf.addN(ys.map((y, i) => tf.sum(tf.mul(y, toTensor(c.cotangents[i])))));
    })(names.map((n) => inputs[n]));
    names.forEach((n, i) => {
      assertClose(grads[i], toTensor(c.grads[n]), { what: `${c.id}: grad ${n}` });
    });
  });
}

const argsOf = (c: NetCase) =>
  Object.fromEntries(Object.entries(c.args ?? {}).map(([k, t]) => [k, toTensor(t)]));

describe('TTSR networks against PyTorch', () => {
  before(useTestBackend);

  for (const c of caseOf('LTE')) {
    test(`${c.id}: the three levels and the input's gradient`, () => {
      const net = lte({ type: 'LTE', ...c.config });
      loadWeights(net, c.weights as Record<string, RefTensor>);
      const x = toTensor(c.x as RefTensor);
      checkNetCase(c, { x }, ({ x }) => net.apply(x) as tf.Tensor[]);
      tf.dispose(x);
      net.dispose();
    });
  }

  for (const c of caseOf('SearchTransformer')) {
    test(`${c.id}: soft attention, textures and the gradients to every input`, () => {
      const args = argsOf(c);
      const before = tf.memory().numTensors;
      checkNetCase(c, args, (a) => {
        const { softAttention, textures } = searchTransformer(a.img_lq, a.ref_lq, [
          a.refs0,
          a.refs1,
          a.refs2,
        ]);
        return [softAttention, ...textures];
      });
      assert.equal(tf.memory().numTensors, before);
      tf.dispose(Object.values(args));
    });
  }

  for (const c of caseOf('TTSRNet')) {
    test(`${c.id}: the output and the gradients to x, soft attention and textures`, () => {
      const net = ttsrNet({ type: 'TTSRNet', ...c.config });
      loadWeights(net, c.weights as Record<string, RefTensor>);
      const args = argsOf(c);
      checkNetCase(c, args, (a) => [
        net.apply([a.x, a.soft_attention, a.textures0, a.textures1, a.textures2]) as tf.Tensor,
      ]);
      tf.dispose(Object.values(args));
      net.dispose();
    });
  }
});

describe('LTE from VGG19 weights', () => {
  before(useTestBackend);

  test('loadLteFromVgg19 copies features.{0,2,5,7,10} (OIHW) and names a weight that does not fit', () => {
    const net = lte({ type: 'LTE', texture_channels: 2 });
    const shapes: Record<number, number[]> = {
      0: [2, 3, 3, 3],
      2: [2, 2, 3, 3],
      5: [4, 2, 3, 3],
      7: [4, 4, 3, 3],
      10: [8, 4, 3, 3],
    };
    const map: Record<string, tf.Tensor> = {};
    for (const [index, shape] of Object.entries(shapes)) {
      map[`features.${index}.weight`] = tf.randomNormal(shape, 0, 1, 'float32', Number(index));
      map[`features.${index}.bias`] = tf.randomNormal(
        [shape[0]],
        0,
        1,
        'float32',
        50 + Number(index),
      );
    }
    loadLteFromVgg19(net, tensorMapSource(map, 'vgg19.safetensors'));
    tf.tidy(() => {
      assertClose(net.weights[4].read(), tf.transpose(map['features.5.weight'], [2, 3, 1, 0]));
      assertClose(net.weights[9].read(), map['features.10.bias']);
    });
    const wide = lte({ type: 'LTE', texture_channels: 3 });
    assert.throws(
      () => loadLteFromVgg19(wide, tensorMapSource(map, 'vgg19.safetensors')),
      (e: Error) =>
        e instanceof WeightsError &&
        /LTE: weight 'features\.0\.weight' in vgg19\.safetensors must have shape \[3, 3, 3, 3\], got \[2, 3, 3, 3\]/.test(
          e.message,
        ),
    );
    tf.dispose(Object.values(map));
    net.dispose();
    wide.dispose();
  });
});

describe('TTSR networks: bad inputs', () => {
  before(useTestBackend);

  test('SearchTransformer names the argument and the shape it needs', () => {
    tf.tidy(() => {
      const f = (n: number, h: number, c: number) => tf.ones([n, h, h, c]);
      assert.throws(
        () => searchTransformer(f(1, 2, 4), f(1, 3, 2), [f(1, 3, 4), f(1, 6, 2), f(1, 12, 1)]),
        (e: Error) =>
          e instanceof ShapeError &&
          /SearchTransformer: 'ref_lq' must be 1×h'×w'×4/.test(e.message),
      );
      assert.throws(
        () => searchTransformer(f(1, 2, 4), f(1, 3, 4), [f(1, 3, 4), f(1, 5, 2), f(1, 12, 1)]),
        (e: Error) =>
          e instanceof ShapeError &&
          /SearchTransformer: 'refs\[1\]' must be 1×6×6×C/.test(e.message),
      );
      assert.throws(
        () => searchTransformer(f(1, 2, 4), f(1, 3, 4), [f(1, 3, 4)]),
        (e: Error) =>
          e instanceof ShapeError &&
          /'refs' must be the reference's 3 feature levels/.test(e.message),
      );
    });
  });

  test('TTSRNet and LTE name the input and the shape they need', () => {
    const net = ttsrNet({
      type: 'TTSRNet',
      mid_channels: 4,
      texture_channels: 2,
      num_blocks: [0, 0, 0, 0],
    });
    const extractor = lte({ type: 'LTE', texture_channels: 2 });
    tf.tidy(() => {
      const ones = (h: number, c: number) => tf.ones([1, h, h, c]);
      assert.throws(
        () => net.apply([ones(2, 3), ones(2, 1), ones(2, 8), ones(4, 4), ones(8, 1)]),
        (e: Error) =>
          e instanceof ShapeError &&
          /TTSRNet: 'textures\[2\]' must be \[1, 8, 8, 2\]/.test(e.message),
      );
      assert.throws(
        () => net.apply([ones(2, 3), ones(3, 1), ones(2, 8), ones(4, 4), ones(8, 2)]),
        (e: Error) =>
          e instanceof ShapeError &&
          /TTSRNet: 'soft_attention' must be \[1, 2, 2, 1\]/.test(e.message),
      );
      assert.throws(
        () => extractor.apply(ones(6, 3)),
        (e: Error) =>
          e instanceof ShapeError &&
          /LTE: 'x' must be N×H×W×3 with H and W multiples of 4/.test(e.message),
      );
    });
    net.dispose();
    extractor.dispose();
  });
});

const G_CFG = {
  type: 'TTSRNet' as const,
  mid_channels: 4,
  texture_channels: 2,
  num_blocks: [1, 1, 1, 1] as [number, number, number, number],
  seed: 1,
};
const E_CFG = { type: 'LTE', texture_channels: 2, seed: 2 } as const;
const D_CFG = { type: 'DCGANDiscriminator', in_size: 16, base_channels: 4, seed: 3 };
const adam = { type: 'Adam', lr: 0.01 };
const L1 = { type: 'L1Loss', loss_weight: 1.0 };
const TRANSFERAL = { type: 'TransferalPerceptualLoss', loss_weight: 0.5 };

/** A 16×16 batch in [−1, 1]: targets, their ×4 inputs (area) and a mirrored reference. */
function makeBatch(): ImageBatch {
  return tf.tidy(() => {
    const gt = tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const ref = tf.reverse(gt, 2) as tf.Tensor4D;
    const down = (x: tf.Tensor4D) => tf.avgPool(x, 4, 4, 'valid') as tf.Tensor4D;
    const up = (x: tf.Tensor4D) => tf.image.resizeBilinear(x, [16, 16]);
    return { img: down(gt), img_lq: up(down(gt)), ref_img: ref, ref_lq: up(down(ref)), gt_img: gt };
  });
}

function build(cfg: Record<string, unknown>, { disc = false, extractor = {} } = {}) {
  const nets: TTSRNets = {
    generator: ttsrNet(G_CFG),
    extractor: lte({ ...E_CFG, ...extractor }),
    discriminator: disc ? buildNet('test', D_CFG) : null,
    optimizers: { generator: adam, extractor: adam, ...(disc ? { discriminator: adam } : {}) },
  };
  const model = new TTSR({ type: 'TTSR', ...cfg }, nets);
  const free = () => {
    model.dispose();
    for (const net of [nets.generator, nets.extractor, nets.discriminator]) net?.dispose();
  };
  return { model, free };
}

describe('TTSR model', () => {
  let batch: ImageBatch;
  before(async () => {
    await useTestBackend();
    batch = makeBatch();
  });
  after(() => tf.dispose(Object.values(batch)));

  test('a step logs MMagic loss names, trains generator, extractor and discriminator, and leaks nothing', async () => {
    const { model, free } = build(
      {
        pixel_loss: L1,
        transferal_perceptual_loss: TRANSFERAL,
        gan_loss: { type: 'GANLoss', gan_type: 'vanilla', loss_weight: 0.01 },
      },
      { disc: true },
    );
    const nets = [model.generator, model.extractor, model.discriminator as tf.LayersModel];
    const before = nets.map(valuesOfNet);
    const log = await model.trainStep(batch);
    assert.deepEqual(Object.keys(log), [
      'loss_generator',
      'loss_pix',
      'loss_transferal',
      'loss_gan',
      'loss_discriminator',
      'loss_d_real',
      'loss_d_fake',
    ]);
    for (const v of Object.values(log)) assert.ok(Number.isFinite(v));
    nets.forEach((net, i) => {
      assert.notDeepEqual(valuesOfNet(net), before[i], `${net.name} changed`);
    });
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await model.trainStep(batch);
    assert.equal(tf.memory().numTensors, count, 'tensors leaked over 3 steps');
    assert.equal(model.iteration, 4);
    free();
  });

  test("loss_transferal: the extractor copy's weights get no gradient, the extractor and the generator do", () => {
    const { model, free } = build({ pixel_loss: L1, transferal_perceptual_loss: TRANSFERAL });
    // MMagic's extractor_copy: a second LTE loaded with the extractor's weights, outside the
    // differentiated variables.
    const copy = lte(E_CFG);
    copy.setWeights(model.extractor.getWeights());
    const variables = (net: tf.LayersModel) =>
      net.trainableWeights.map((w) => w.read() as tf.Variable);
    const loss = model.transferalLoss as unknown as {
      forward(m: tf.Tensor[], s: tf.Tensor, t: tf.Tensor[]): tf.Scalar;
    };
    tf.tidy(() => {
      const withCopy = (detachMaps: boolean) => () => {
        const out = model.forward(batch, true);
        const maps = copy.apply(tf.div(tf.add(out.pred, 1), 2)) as tf.Tensor[];
        return loss.forward(
          detachMaps ? maps.map((m) => stopGradient(m)) : maps,
          out.softAttention,
          out.textures,
        );
      };
      const byModel = () =>
        model.generatorLosses(batch, model.forward(batch, true)).loss_transferal as tf.Scalar;
      const all = [...variables(model.generator), ...variables(model.extractor)];
      const got = tf.variableGrads(byModel, all);
      const want = tf.variableGrads(withCopy(false), all);
      for (const v of all) assertClose(got.grads[v.name], want.grads[v.name], { what: v.name });
      for (const net of [model.generator, model.extractor]) {
        const norm = tf.addN(variables(net).map((v) => tf.norm(got.grads[v.name])));
        assert.ok(norm.dataSync()[0] > 0, `${net.name} gets a gradient`);
      }
      const detached = tf.variableGrads(withCopy(true), variables(model.generator));
      for (const v of variables(model.generator)) {
        assert.equal(
          tf.norm(detached.grads[v.name]).dataSync()[0],
          0,
          `${v.name}: the generator's gradient comes through pred only`,
        );
      }
    });
    copy.dispose();
    free();
  });

  test('train_cfg.pixel_init: only loss_pix and no discriminator step before it', async () => {
    const { model, free } = build(
      {
        pixel_loss: L1,
        transferal_perceptual_loss: TRANSFERAL,
        gan_loss: { type: 'GANLoss', gan_type: 'vanilla', loss_weight: 0.01 },
        train_cfg: { pixel_init: 1 },
      },
      { disc: true },
    );
    const d0 = valuesOfNet(model.discriminator as tf.LayersModel);
    assert.deepEqual(Object.keys(await model.trainStep(batch)), ['loss_generator', 'loss_pix']);
    assert.deepEqual(valuesOfNet(model.discriminator as tf.LayersModel), d0);
    assert.ok('loss_transferal' in (await model.trainStep(batch)));
    free();
  });

  test('requires_grad false freezes the extractor', async () => {
    const { model, free } = build(
      { pixel_loss: L1, transferal_perceptual_loss: TRANSFERAL },
      { extractor: { requires_grad: false } },
    );
    const e0 = valuesOfNet(model.extractor);
    await model.trainStep(batch);
    assert.deepEqual(valuesOfNet(model.extractor), e0);
    free();
  });

  test('a non-finite loss undoes the whole step', async () => {
    const { model, free } = build({ pixel_loss: L1, transferal_perceptual_loss: TRANSFERAL });
    await model.trainStep(batch);
    const nets = [model.generator, model.extractor];
    const before = nets.map(valuesOfNet);
    const count = tf.memory().numTensors;
    const bad = { ...batch, gt_img: tf.fill(batch.gt_img.shape, Number.NaN) as tf.Tensor4D };
    await assert.rejects(
      model.trainStep(bad),
      (e: Error) =>
        e instanceof NonFiniteLossError && /TTSR: generator loss 'loss_pix'/.test(e.message),
    );
    bad.gt_img.dispose();
    assert.deepEqual(nets.map(valuesOfNet), before);
    assert.equal(model.iteration, 1);
    assert.equal(tf.memory().numTensors, count);
    free();
  });

  test('bad configs are ConfigErrors naming the key', () => {
    const fails = (cfg: Record<string, unknown>, re: RegExp, opts = {}) =>
      assert.throws(
        () => build(cfg, opts),
        (e: Error) => e instanceof ConfigError && re.test(e.message),
      );
    fails({ transferal_perceptual_loss: TRANSFERAL }, /TTSR: option 'pixel_loss' is required/);
    fails(
      { pixel_loss: L1, transferal_perceptual_loss: L1 },
      /TTSR: option 'transferal_perceptual_loss' must be a loss that a TTSR can call there \(TransferalPerceptualLoss\)/,
    );
    fails(
      { pixel_loss: L1, gan_loss: { type: 'GANLoss', gan_type: 'vanilla' } },
      /'gan_loss' and 'discriminator' go together/,
    );
    fails(
      { pixel_loss: L1 },
      /the extractor's level-1 width \(4\) must equal the generator's texture_channels \(2\)/,
      {
        extractor: { texture_channels: 4 },
      },
    );
  });
});

describe('TTSR in the trainer', () => {
  before(useTestBackend);

  test('checkpoints hold the extractor and its optimizer: a restored trainer steps as the original', async () => {
    const config = {
      model: {
        type: 'TTSR',
        generator: G_CFG,
        extractor: E_CFG,
        transformer: { type: 'SearchTransformer' },
        pixel_loss: L1,
        transferal_perceptual_loss: TRANSFERAL,
        optimizers: { generator: adam, extractor: adam },
      },
      data: {
        type: 'shapes',
        num_images: 6,
        size: 16,
        val_images: 2,
        degradation: { type: 'downsample', scale: 4 },
      },
      train: { iters: 3, batch_size: 2, num_samples: 2 },
    };
    const before = tf.memory().numTensors;
    const a = new Trainer(config, shapesDataset(6, 16, 0));
    const b = new Trainer(config, shapesDataset(6, 16, 0));
    await a.trainStep();
    const state = await a.getState();
    assert.ok('extractor.0' in state.tensors && 'optimizer.extractor.0' in state.tensors);
    assert.deepEqual(Object.keys(a.stateLayout().optimizers), ['generator', 'extractor']);
    await b.setState(state);
    tf.dispose(Object.values(state.tensors));
    assert.deepEqual(await b.trainStep(), await a.trainStep());
    const grid = a.samples();
    assert.deepEqual(grid.images.shape, [2 * 4, 16, 16, 3]);
    grid.images.dispose();
    a.dispose();
    b.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
