/**
 * The network cases of test/reference/penalties.json and adv.json (made by
 * test/reference/generate_gan.py with PyTorch, `autograd.grad(create_graph=True)`): gradient
 * penalty, R1, the path-length regulariser over several steps, and AdvLoss over call sequences,
 * on small discriminators and generators whose weights the JSON gives, on each reference backend.
 * Each case compares the loss and its gradient w.r.t. every network weight (and the images) with
 * PyTorch float64.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  GenPathRegularizer,
  genPathRegularizer,
  gradientPenaltyLoss,
  LOSSES,
  type NormMode,
  type PathGenerator,
  r1GradientPenaltyLoss,
} from '../../src/index.ts';
import { describeOnEachBackend } from '../helpers/backend.ts';
import {
  type Layer,
  lossScaler,
  type Params,
  type RefNet,
  runLayers,
  WorstError,
} from '../helpers/gan-reference.ts';
import { type RefTensor, readReference, toTensor, toVariables } from '../helpers/reference.ts';

interface RefFile<C> {
  nets: Record<string, RefNet>;
  generators?: Record<
    string,
    { mapping: Layer[]; synthesis: string; params: Record<string, RefTensor> }
  >;
  cases: C[];
}

interface PenaltyCase {
  id: string;
  type: string;
  config: Record<string, unknown>;
  net: string;
  args: { name: string; tensor: RefTensor }[];
  alpha?: RefTensor;
  loss_scale?: number;
  output: RefTensor;
  grads: Record<string, RefTensor>;
}

interface PathCase {
  id: string;
  type: 'gen_path_regularizer' | 'GenPathRegularizer';
  config: Record<string, number>;
  generator: string;
  mean_path_length: number;
  loss_scale?: number;
  steps: {
    num_batches: number;
    n: number;
    z: RefTensor;
    noise: RefTensor;
    output: RefTensor;
    mean_path_length: RefTensor;
    path_lengths: RefTensor;
    grads: Record<string, RefTensor>;
  }[];
}

interface AdvCase {
  id: string;
  config: Record<string, unknown>;
  net: string;
  steps: {
    model: string;
    fakeB: RefTensor;
    realB: RefTensor;
    alpha?: RefTensor;
    output: RefTensor;
    pool_rows: [number, number];
    grads: Record<string, RefTensor>;
  }[];
}

/** The named synthesis networks of generate_gan.py: latents n×2×4 → images n×4×4×3. */
function synthesis(arch: string, p: Params, lat: tf.Tensor): tf.Tensor {
  const n = lat.shape[0]!;
  const style = (l: number, a: string) =>
    tf.add(
      tf.matMul(tf.reshape(tf.slice(lat, [0, l, 0], [n, 1, -1]), [n, -1]), p[`${a}.w`]),
      p[`${a}.b`],
    );
  const s0 = style(0, 'A0');
  const s1 = style(1, 'A1');
  const start = tf.tile(p.const, [n, 1, 1, 1]) as tf.Tensor4D;
  if (arch === 'act_mod') {
    let x = tf.mul(start, tf.reshape(s0, [n, 1, 1, -1]));
    x = tf.add(tf.conv2d(x as tf.Tensor4D, p['conv0.w'] as tf.Tensor4D, 1, 1), p['conv0.b']);
    x = tf.leakyRelu(x, 0.2);
    x = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [4, 4]);
    x = tf.mul(x, tf.reshape(s1, [n, 1, 1, -1]));
    x = tf.add(tf.conv2d(x as tf.Tensor4D, p['rgb.w'] as tf.Tensor4D, 1, 'valid'), p['rgb.b']);
    return tf.tanh(x);
  }
  // weight_mod: StyleGAN2's modulated (and, for conv0, demodulated) convolution, per sample.
  const sample = (t: tf.Tensor, i: number) =>
    tf.slice(t, [i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  const modulated = (t: tf.Tensor, s: tf.Tensor, name: string, demod: boolean, pad: 1 | 'valid') =>
    tf.concat(
      Array.from({ length: n }, (_, i) => {
        let w = tf.mul(p[name], tf.reshape(tf.slice(s, [i, 0], [1, -1]), [1, 1, -1, 1]));
        if (demod) {
          w = tf.mul(
            w,
            tf.reshape(tf.rsqrt(tf.add(tf.sum(tf.square(w), [0, 1, 2]), 1e-8)), [1, 1, 1, -1]),
          );
        }
        return tf.conv2d(sample(t, i), w as tf.Tensor4D, 1, pad);
      }),
      0,
    );
  let x = tf.add(modulated(start, s0, 'conv0.w', true, 1), p['conv0.b']);
  x = tf.leakyRelu(x, 0.2);
  x = tf.image.resizeBilinear(x as tf.Tensor4D, [4, 4], false, true);
  x = tf.add(modulated(x, s1, 'rgb.w', false, 'valid'), p['rgb.b']);
  return tf.sigmoid(x);
}

/** `f`'s value and its gradient w.r.t. every variable (zeros where f does not depend on it). */
function valueAndGrads(
  f: () => tf.Scalar,
  vars: Record<string, tf.Variable>,
): { value: tf.Tensor; grads: Record<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(f, Object.values(vars));
  const byName: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(vars)) byName[name] = grads[v.name] ?? tf.zerosLike(v);
  return { value, grads: byName };
}

let worst = new WorstError();

const penalties = readReference<RefFile<PenaltyCase | PathCase>>('penalties.json');
const adv = readReference<RefFile<AdvCase>>('adv.json');

describeOnEachBackend(
  `PyTorch reference cases of the penalties`,
  (backend) => {
    const gpCases = penalties.cases.filter((c): c is PenaltyCase => 'net' in c);
    for (const type of [
      'gradient_penalty_loss',
      'GradientPenaltyLoss',
      'r1_gradient_penalty_loss',
    ]) {
      const cases = gpCases.filter((c) => c.type === type);
      test(`${type}: ${cases.length} cases (value and gradients w.r.t. every D weight and image)`, () => {
        for (const c of cases) tf.tidy(() => checkPenaltyCase(c));
      });
    }

    const pathCases = penalties.cases.filter((c): c is PathCase => 'steps' in c);
    test(`path regulariser: ${pathCases.length} cases over several steps (EMA state)`, () => {
      for (const c of pathCases) checkPathCase(c);
    });

    test(`AdvLoss: ${adv.cases.length} call sequences (pools, gradients w.r.t. D and images)`, () => {
      for (const c of adv.cases) checkAdvCase(c);
    });

    test('worst error against PyTorch is within tolerance', () => {
      worst.assertWithinTolerance(backend);
    });
  },
  () => {
    worst = new WorstError();
  },
);

function checkPenaltyCase(c: PenaltyCase): void {
  const net = penalties.nets[c.net];
  const params = toVariables(net.params);
  const images = toVariables(
    Object.fromEntries(c.args.filter((a) => a.name !== 'mask').map((a) => [a.name, a.tensor])),
  );
  const maskArg = c.args.find((a) => a.name === 'mask');
  const mask = maskArg ? toTensor(maskArg.tensor) : null;
  const alpha = c.alpha ? toTensor(c.alpha) : null;
  const D = (x: tf.Tensor) => runLayers(net.layers, params, x);
  const normMode = (c.config.norm_mode ?? 'pixel') as NormMode;
  const penalty = (): tf.Scalar => {
    if (c.type === 'r1_gradient_penalty_loss') {
      return r1GradientPenaltyLoss(D, images.real_data, {
        mask,
        norm_mode: normMode,
        loss_scaler: lossScaler(c.loss_scale),
      }) as tf.Scalar;
    }
    if (c.type === 'GradientPenaltyLoss') {
      const module = LOSSES.build({ type: c.type, ...c.config }) as unknown as {
        forward: (...a: unknown[]) => tf.Tensor;
      };
      return module.forward(D, images.real_data, images.fake_data, mask, { alpha }) as tf.Scalar;
    }
    return gradientPenaltyLoss(D, images.real_data, images.fake_data, {
      mask,
      norm_mode: normMode,
      alpha,
    }) as tf.Scalar;
  };
  const all = { ...params, ...images };
  const { value, grads } = valueAndGrads(penalty, all);
  worst.check(value, c.output, `${c.id}: output`);
  for (const [name, want] of Object.entries(c.grads))
    worst.check(grads[name], want, `${c.id}: d/d${name}`);
  tf.dispose(Object.values(all));
}

function checkPathCase(c: PathCase): void {
  const spec = penalties.generators![c.generator];
  const params = toVariables(spec.params);
  const module =
    c.type === 'GenPathRegularizer'
      ? new GenPathRegularizer(c.config as Record<string, never>)
      : null;
  const state: { mean: number | tf.Tensor } = { mean: c.mean_path_length };
  c.steps.forEach((step, k) => {
    const z = toTensor(step.z);
    const noise = toTensor(step.noise);
    const generator: PathGenerator = {
      mapping: (numBatches) => {
        assert.equal(numBatches, step.n, `${c.id} step ${k}: batch size`);
        return runLayers(spec.mapping, params, z);
      },
      synthesis: (latent) => synthesis(spec.synthesis, params, latent),
    };
    const loss_scaler = lossScaler(c.loss_scale);
    const kept: { pm?: tf.Tensor; pl?: tf.Tensor } = {};
    const { value, grads } = valueAndGrads(() => {
      if (module)
        return module.forward(generator, step.num_batches, { noise, loss_scaler }) as tf.Scalar;
      const { decay, weight, pl_batch_shrink, pl_batch_size } = c.config;
      const out = genPathRegularizer(generator, step.num_batches, state.mean, {
        decay,
        weight,
        pl_batch_shrink,
        pl_batch_size,
        loss_scaler,
        noise,
      });
      kept.pm = tf.keep(out[1]);
      kept.pl = tf.keep(out[2]);
      return out[0] as tf.Scalar;
    }, params);
    const what = `${c.id} step ${k}`;
    worst.check(value, step.output, `${what}: penalty`);
    for (const [name, want] of Object.entries(step.grads))
      worst.check(grads[name], want, `${what}: d/d${name}`);
    if (module) {
      worst.check(module.meanPathLength, step.mean_path_length, `${what}: meanPathLength`);
    } else {
      worst.check(kept.pm!, step.mean_path_length, `${what}: mean path length`);
      worst.check(kept.pl!, step.path_lengths, `${what}: path lengths`);
      if (state.mean instanceof tf.Tensor) state.mean.dispose();
      state.mean = kept.pm!;
      kept.pl!.dispose();
    }
    tf.dispose([value, ...Object.values(grads), z, noise]);
  });
  if (state.mean instanceof tf.Tensor) state.mean.dispose();
  module?.dispose();
  tf.dispose(Object.values(params));
}

function checkAdvCase(c: AdvCase): void {
  const net = adv.nets[c.net];
  const params = toVariables(net.params);
  const module = LOSSES.build({ type: 'AdvLoss', ...c.config }) as unknown as {
    forward: (...a: unknown[]) => tf.Tensor;
    poolSizes(): [number, number];
    dispose(): void;
  };
  const D = (x: tf.Tensor) => runLayers(net.layers, params, x);
  c.steps.forEach((step, k) => {
    tf.tidy(() => {
      const images = toVariables({ fakeB: step.fakeB, realB: step.realB });
      const alpha = step.alpha ? toTensor(step.alpha) : null;
      const { value, grads } = valueAndGrads(
        () => module.forward(D, images.fakeB, images.realB, step.model, { alpha }) as tf.Scalar,
        { ...params, ...images },
      );
      const what = `${c.id} step ${k} (${step.model})`;
      worst.check(value, step.output, `${what}: output`);
      for (const [name, want] of Object.entries(step.grads))
        worst.check(grads[name], want, `${what}: d/d${name}`);
      const relativistic = String(c.config.loss_type).startsWith('ragan');
      assert.deepEqual(
        module.poolSizes(),
        relativistic ? step.pool_rows : [0, 0],
        `${what}: pool rows`,
      );
      tf.dispose(Object.values(images));
    });
  });
  module.dispose();
  tf.dispose(Object.values(params));
}
