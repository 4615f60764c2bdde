/**
 * The cases of test/reference/model.json (made by test/reference/generate_model.py, an independent
 * float64 PyTorch implementation): mmengine's `parse_losses` on dicts of tensors and lists, and
 * full `GANWithCustomizedLoss.trainStep` runs — D phase then G phase, GANLossComps (hinge,
 * wgan-logistic-ns, vanilla with a smoothed label) with DiscShiftLossComps,
 * GradientPenaltyLossComps, R1GradientPenaltyComps (interval 2) and
 * GeneratorPathRegularizerComps, Adam / SGD / momentum optimizers — on tiny plain-op networks
 * whose weights the JSON gives. Every random draw is injected: `mapping(n)` pops the JSON's
 * latents in call order, the GP's alpha and the path regulariser's noise are extra inputs of
 * `trainStep`. Per step: every `log_vars` value (keys in order), then every D and G weight and the
 * path regulariser's running mean, within 1e-5 + 5e-4·|want|, on each reference backend.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  type DiscriminatorNet,
  type GANModelConfig,
  GANWithCustomizedLoss,
  type GeneratorNet,
  GeneratorPathRegularizerComps,
  type LossDict,
  parseLosses,
} from '../../src/index.ts';
import { describeOnEachBackend } from '../helpers/backend.ts';
import { WorstError } from '../helpers/gan-reference.ts';
import { type RefTensor, readReference, toTensor, toVariables } from '../helpers/reference.ts';

type Weights = Record<string, RefTensor>;

interface ParseCase {
  id: string;
  losses: [string, RefTensor | RefTensor[]][];
  total: number;
  log_vars: [string, number][];
}

interface ModelStep {
  iteration: number;
  /** `real_imgs` and the extra inputs (`gp_alpha`, `pl_noise`), NHWC. */
  inputs: Record<string, RefTensor>;
  /** What `mapping(n)` returns, in call order. */
  latents: RefTensor[];
  log_vars: [string, number][];
  weights: { D: Weights; G: Weights };
  mean_path_length?: number;
}

interface ModelCase {
  id: string;
  config: Omit<GANModelConfig, 'generator' | 'discriminator'>;
  batch_size: number;
  initial: { D: Weights; G: Weights };
  steps: ModelStep[];
}

const reference = readReference<{ parse_losses: ParseCase[]; cases: ModelCase[] }>('model.json');

/**
 * generate_model.py's D: conv 3×3/2 'same' (3→4) + b, leaky ReLU 0.2, conv 3×3/1 'same' (4→4) + b,
 * leaky ReLU 0.2, spatial mean, linear 4→1 + b.
 */
function discriminator(p: Record<string, tf.Variable>): DiscriminatorNet {
  return {
    variables: Object.values(p),
    apply: (x) =>
      tf.tidy(() => {
        let h: tf.Tensor4D = tf.conv2d(x as tf.Tensor4D, p['d.c1.w'] as tf.Tensor4D, 2, 'same');
        h = tf.leakyRelu(tf.add<tf.Tensor4D>(h, p['d.c1.b']), 0.2);
        h = tf.conv2d(h, p['d.c2.w'] as tf.Tensor4D, 1, 'same');
        h = tf.leakyRelu(tf.add<tf.Tensor4D>(h, p['d.c2.b']), 0.2);
        return tf.add(
          tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, p['d.fc.w'] as tf.Tensor2D),
          p['d.fc.b'],
        );
      }),
  };
}

/**
 * generate_model.py's G: `mapping(n)` pops the next latent (n×2×4) of `queue`; synthesis: flatten,
 * linear 8→48 + b, tanh, reshape n×4×4×3, nearest ×2 to n×8×8×3.
 */
function generator(p: Record<string, tf.Variable>, queue: RefTensor[]): GeneratorNet {
  return {
    variables: Object.values(p),
    mapping: (n) => {
      const z = queue.shift();
      assert.ok(z, `mapping(${n}) called more often than the reference`);
      assert.equal(z.shape[0], n, 'mapping: batch size');
      return toTensor(z);
    },
    synthesis: (latent) =>
      tf.tidy(() => {
        const n = latent.shape[0];
        const flat = tf.reshape(latent, [n, -1]) as tf.Tensor2D;
        const h = tf.tanh(tf.add(tf.matMul(flat, p['g.fc.w'] as tf.Tensor2D), p['g.fc.b']));
        return tf.image.resizeNearestNeighbor(tf.reshape(h, [n, 4, 4, 3]) as tf.Tensor4D, [8, 8]);
      }),
  };
}

let worst = new WorstError();

function checkParseCase(c: ParseCase): void {
  tf.tidy(() => {
    const losses: LossDict = Object.fromEntries(
      c.losses.map(([k, v]) => [k, Array.isArray(v) ? v.map(toTensor) : toTensor(v)]),
    );
    const { loss, log_vars } = parseLosses(losses);
    assert.deepEqual(loss.shape, [], `${c.id}: the total is a scalar`);
    worst.check(loss, c.total, `${c.id}: total`);
    assert.deepEqual(
      Object.keys(log_vars),
      c.log_vars.map(([k]) => k),
      `${c.id}: log_vars keys`,
    );
    for (const [k, want] of c.log_vars) {
      assert.deepEqual(log_vars[k].shape, [], `${c.id}: ${k} is a scalar`);
      worst.check(log_vars[k], want, `${c.id}: log_vars.${k}`);
    }
  });
}

async function checkModelCase(c: ModelCase): Promise<void> {
  const tensorsBefore = tf.memory().numTensors;
  const dVars = toVariables(c.initial.D);
  const gVars = toVariables(c.initial.G);
  const queue: RefTensor[] = [];
  const model = new GANWithCustomizedLoss({
    ...c.config,
    generator: generator(gVars, queue),
    discriminator: discriminator(dVars),
  });
  const path = model.genAuxiliaryLosses.find((m) => m instanceof GeneratorPathRegularizerComps);
  for (const step of c.steps) {
    const what = `${c.id} step ${step.iteration}`;
    assert.equal(model.iteration, step.iteration, `${what}: iteration`);
    queue.push(...step.latents);
    const inputs = Object.fromEntries(
      Object.entries(step.inputs).map(([k, t]) => [k, toTensor(t)]),
    ) as Record<string, tf.Tensor>;
    const log = await model.trainStep({ ...inputs, real_imgs: inputs.real_imgs });
    tf.dispose(Object.values(inputs));
    assert.equal(queue.length, 0, `${what}: mapping(n) calls`);
    assert.deepEqual(
      Object.keys(log),
      step.log_vars.map(([k]) => k),
      `${what}: log_vars keys`,
    );
    for (const [k, want] of step.log_vars) worst.check(log[k], want, `${what}: log_vars.${k}`);
    for (const [name, want] of Object.entries(step.weights.D))
      worst.check(dVars[name], want, `${what}: D ${name}`);
    for (const [name, want] of Object.entries(step.weights.G))
      worst.check(gVars[name], want, `${what}: G ${name}`);
    if (step.mean_path_length !== undefined) {
      assert.ok(path, `${what}: the model has a path regulariser`);
      worst.check(path.meanPathLength, step.mean_path_length, `${what}: meanPathLength`);
    }
  }
  model.dispose();
  tf.dispose([...Object.values(dVars), ...Object.values(gVars)]);
  const leaked = tf.memory().numTensors - tensorsBefore;
  assert.equal(leaked, 0, `${c.id}: ${leaked} tensor(s) leaked`);
}

describeOnEachBackend(
  `PyTorch reference cases of parseLosses and GANWithCustomizedLoss`,
  (backend) => {
    test(`parseLosses: ${reference.parse_losses.length} dicts (total and every log value, in order)`, () => {
      for (const c of reference.parse_losses) checkParseCase(c);
    });

    for (const c of reference.cases) {
      test(`trainStep × ${c.steps.length}: ${c.id}`, async () => {
        await checkModelCase(c);
      });
    }

    test('worst error against PyTorch is within tolerance', () => {
      worst.assertWithinTolerance(backend);
    });
  },
  () => {
    worst = new WorstError();
  },
);
