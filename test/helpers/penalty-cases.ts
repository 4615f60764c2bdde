/**
 * The network cases of test/reference/penalties.json and adv.json (generate_gan.py) and of
 * penalties_peers.json (generate_penalties_peers.py), made with PyTorch float64 and
 * `autograd.grad(create_graph=True)`: gradient penalties (MMagic's GP and R1, the peers' R2,
 * R1 + R2, target and one-sided GP), the path-length regulariser over several steps, and AdvLoss
 * over call sequences, on small networks whose weights the JSON gives. Each check compares the
 * loss and its gradient w.r.t. every network weight (and the images) through a `WorstError`;
 * without Node built-ins, so that the Node suite (test/losses/penalties-reference.test.ts,
 * penalties-peers.test.ts) and the browser suite (test/browser/) both run them.
 */
import * as tf from '@tensorflow/tfjs';
import {
  GenPathRegularizer,
  genPathRegularizer,
  gradientPenaltyLoss,
  LOSSES,
  type NormMode,
  type PathGenerator,
  r1GradientPenaltyLoss,
  r2GradientPenaltyLoss,
} from '../../src/index.ts';
import {
  type Layer,
  lossScaler,
  type Params,
  type RefNet,
  runLayers,
  type WorstError,
} from './gan-reference.ts';
import { type RefTensor, toTensor, toVariables } from './reference-cases.ts';

/** A reference file of networks and the cases run on them. */
export interface NetFile<C> {
  nets: Record<string, RefNet>;
  generators?: Record<
    string,
    { mapping: Layer[]; synthesis: string; params: Record<string, RefTensor> }
  >;
  cases: C[];
}

/** A gradient-penalty case of penalties.json or penalties_peers.json. */
export interface PenaltyCase {
  id: string;
  type:
    | 'gradient_penalty_loss'
    | 'GradientPenaltyLoss'
    | 'r1_gradient_penalty_loss'
    | 'r2_gradient_penalty_loss'
    | 'r1_r2';
  config: { norm_mode?: NormMode; target?: number; one_sided?: boolean; loss_weight?: number };
  net: string;
  args: { name: string; tensor: RefTensor }[];
  alpha?: RefTensor;
  loss_scale?: number;
  output: RefTensor;
  grads: Record<string, RefTensor>;
}

/** A path-length case of penalties.json: the regulariser over several steps (EMA state). */
export interface PathCase {
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

/** A case of adv.json: AdvLoss over a sequence of calls (its pools carry over). */
export interface AdvCase {
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

/**
 * Checks a gradient-penalty case of `file` (penalties.json or penalties_peers.json): the
 * penalty on the case's network and its gradient w.r.t. every weight and image. `norm_mode`
 * defaults to `'pixel'`. Call inside `tf.tidy`.
 */
export function checkPenaltyCase(c: PenaltyCase, file: NetFile<unknown>, worst: WorstError): void {
  const net = file.nets[c.net];
  const params = toVariables(net.params);
  const images = toVariables(
    Object.fromEntries(c.args.filter((a) => a.name !== 'mask').map((a) => [a.name, a.tensor])),
  );
  const maskArg = c.args.find((a) => a.name === 'mask');
  const mask = maskArg ? toTensor(maskArg.tensor) : null;
  const alpha = c.alpha ? toTensor(c.alpha) : null;
  const D = (x: tf.Tensor) => runLayers(net.layers, params, x);
  const { norm_mode = 'pixel', target, one_sided } = c.config;
  const loss_scaler = lossScaler(c.loss_scale);
  const penalty = (): tf.Scalar => {
    switch (c.type) {
      case 'r1_gradient_penalty_loss':
        return r1GradientPenaltyLoss(D, images.real_data, {
          mask,
          norm_mode,
          loss_scaler,
        }) as tf.Scalar;
      case 'r2_gradient_penalty_loss':
        return r2GradientPenaltyLoss(D, images.fake_data, {
          mask,
          norm_mode,
          loss_scaler,
        }) as tf.Scalar;
      case 'r1_r2':
        return tf.add(
          r1GradientPenaltyLoss(D, images.real_data, { norm_mode }),
          r2GradientPenaltyLoss(D, images.fake_data, { norm_mode }),
        ) as tf.Scalar;
      case 'GradientPenaltyLoss': {
        const module = LOSSES.build({ type: c.type, ...c.config }) as unknown as {
          forward: (...a: unknown[]) => tf.Tensor;
        };
        return module.forward(D, images.real_data, images.fake_data, mask, {
          alpha,
        }) as tf.Scalar;
      }
      case 'gradient_penalty_loss':
        return gradientPenaltyLoss(D, images.real_data, images.fake_data, {
          mask,
          norm_mode,
          alpha,
          target,
          one_sided,
        }) as tf.Scalar;
    }
  };
  const all = { ...params, ...images };
  const { value, grads } = valueAndGrads(penalty, all);
  worst.check(value, c.output, `${c.id}: output`);
  for (const [name, want] of Object.entries(c.grads)) {
    worst.check(grads[name], want, `${c.id}: d/d${name}`);
  }
  tf.dispose(Object.values(all));
}

/**
 * Checks a path-length case of penalties.json over its steps: the penalty, its gradient w.r.t.
 * every generator weight, and the running mean path length (and the function's path lengths).
 */
export function checkPathCase(c: PathCase, file: NetFile<unknown>, worst: WorstError): void {
  const spec = file.generators![c.generator];
  const params = toVariables(spec.params);
  const module =
    c.type === 'GenPathRegularizer'
      ? new GenPathRegularizer(c.config as Record<string, never>)
      : null;
  const state: { mean: number | tf.Tensor } = { mean: c.mean_path_length };
  c.steps.forEach((step, k) => {
    const z = toTensor(step.z);
    const noise = toTensor(step.noise);
    const what = `${c.id} step ${k}`;
    const generator: PathGenerator = {
      mapping: (numBatches) => {
        if (numBatches !== step.n) {
          throw new Error(`${what}: batch size ${numBatches}, expected ${step.n}`);
        }
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

/**
 * Checks an adv.json call sequence: each call's loss, its gradient w.r.t. every discriminator
 * weight and image, and the rows of the relativistic pools (empty for the other loss types).
 */
export function checkAdvCase(c: AdvCase, file: NetFile<unknown>, worst: WorstError): void {
  const net = file.nets[c.net];
  const params = toVariables(net.params);
  const module = LOSSES.build({ type: 'AdvLoss', ...c.config }) as unknown as {
    forward: (...a: unknown[]) => tf.Tensor;
    poolSizes(): [number, number];
    dispose(): void;
  };
  const D = (x: tf.Tensor) => runLayers(net.layers, params, x);
  const relativistic = String(c.config.loss_type).startsWith('ragan');
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
      const rows = module.poolSizes();
      const want = relativistic ? step.pool_rows : [0, 0];
      if (rows.join() !== want.join()) throw new Error(`${what}: pool rows ${rows}, want ${want}`);
      tf.dispose(Object.values(images));
    });
  });
  module.dispose();
  tf.dispose(Object.values(params));
}
