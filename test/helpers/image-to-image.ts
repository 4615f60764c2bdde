/**
 * Shared mechanics of the image-to-image model tests (test/models/{restorer,inpaintor,matting}):
 * networks built twice from one config (a frozen twin to recompute a step's losses with plain
 * ops), the state a step may change, MMagic's masked mean, and the atomicity and leak checks every
 * model kind runs.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { NonFiniteLossError } from '../../src/core/errors.ts';
import type {
  ImageBatch,
  ImageToImageModel,
  ImageToImageNets,
} from '../../src/models/image-to-image.ts';
import { buildNet } from '../../src/train/architectures.ts';

/** A network and an identical twin (same config, same seeded initialisers) that no step trains. */
export function netWithTwin(cfg: Record<string, unknown>): {
  net: tf.LayersModel;
  twin: tf.LayersModel;
} {
  const net = buildNet('test', cfg);
  const twin = buildNet('test', cfg);
  assert.deepEqual(valuesOfNet(twin), valuesOfNet(net), 'a twin starts with the same weights');
  return { net, twin };
}

/**
 * A model of class `Model` over networks with untrained twins (`g0`, `d0`: no discriminator when
 * `dCfg` is null), one optimizer config for both; `free` disposes the model and every network.
 */
export function buildWithTwins<M extends ImageToImageModel>(
  Model: new (cfg: unknown, nets: ImageToImageNets) => M,
  cfg: Record<string, unknown>,
  gCfg: Record<string, unknown>,
  dCfg: Record<string, unknown> | null,
  optimizer: unknown,
): { model: M; g0: tf.LayersModel; d0: tf.LayersModel | null; free: () => void } {
  const g = netWithTwin(gCfg);
  const d = dCfg === null ? null : netWithTwin(dCfg);
  const model = new Model(cfg, {
    generator: g.net,
    discriminator: d?.net ?? null,
    optimizers: { generator: optimizer, ...(d ? { discriminator: optimizer } : {}) },
  });
  const free = () => {
    model.dispose();
    for (const net of [g.net, g.twin, d?.net, d?.twin]) net?.dispose();
  };
  return { model, g0: g.twin, d0: d?.twin ?? null, free };
}

/** The values of a network's weights. */
export function valuesOfNet(net: tf.LayersModel): number[][] {
  return net.getWeights().map((w) => Array.from(w.dataSync()));
}

/** A scalar tensor's value, freeing what `fn` made. */
export function scalarOf(fn: () => tf.Tensor): number {
  return tf.tidy(() => fn().dataSync()[0]);
}

/**
 * MMagic's masked mean (`mask_reduce_loss`, reduction 'mean'): `Σ loss·weight / (Σ weight
 * expanded to the loss's channels + 1e-12)`, of `|pred − target|` (an L1 loss).
 */
export function maskedL1(pred: tf.Tensor, target: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const channels = pred.shape[3] as number;
    const num = tf.sum(tf.mul(tf.abs(tf.sub(pred, target)), weight));
    return tf.div(num, tf.add(tf.mul(tf.sum(weight), channels), 1e-12));
  });
}

/** Everything a step may change: weights, optimizer states (every slot's values), iteration. */
export async function modelState(model: ImageToImageModel) {
  const optimizer = async (o: tf.Optimizer | undefined) => {
    if (o === undefined) return null;
    // getWeights() makes a fresh iteration-count tensor, then hands the accumulators themselves.
    const [count, ...slots] = await o.getWeights();
    const values = [Array.from(await count.tensor.data())];
    count.tensor.dispose();
    for (const w of slots) values.push(Array.from(await w.tensor.data()));
    return values;
  };
  return {
    generator: valuesOfNet(model.generator),
    discriminator: model.discriminator ? valuesOfNet(model.discriminator) : null,
    optimizerG: await optimizer(model.optimizers.generator),
    optimizerD: await optimizer(model.optimizers.discriminator),
    buffers: model
      .losses()
      .flatMap((m) => m.buffers())
      .map((b) => Array.from(b.dataSync())),
    iteration: model.iteration,
  };
}

/** The batch with NaN in place of every value of `field`. */
export function withNaN(batch: ImageBatch, field: string): ImageBatch {
  return { ...batch, [field]: tf.fill(batch[field].shape, Number.NaN) as tf.Tensor4D };
}

/**
 * Atomicity, after `warmup` good steps (so that the optimizers hold moments): a step on a batch
 * with NaN in `nanField` is a `NonFiniteLossError` whose message matches `nanLoss`, and a step
 * whose last phase throws after the phases before it applied their updates (a timer that throws
 * when the last of `phases` starts; the phases must start in that order) both leave weights,
 * optimizer states, buffers and the iteration as they were, and leak no tensor; then a good step
 * still trains.
 */
export async function checkAtomicSteps(
  model: ImageToImageModel,
  batch: ImageBatch,
  { nanField, nanLoss, phases }: { nanField: string; nanLoss: RegExp; phases: string[] },
  warmup = 2,
): Promise<void> {
  for (let i = 0; i < warmup; i++) await model.trainStep(batch);
  const before = await modelState(model);
  const tensors = tf.memory().numTensors;
  const bad = withNaN(batch, nanField);
  await assert.rejects(
    model.trainStep(bad),
    (e: Error) => e instanceof NonFiniteLossError && nanLoss.test(e.message),
  );
  bad[nanField].dispose();
  assert.deepEqual(await modelState(model), before, 'a non-finite loss undid the step');
  const ran: string[] = [];
  model.timer = {
    time<T>(phase: string, fn: () => T): T {
      ran.push(phase);
      if (ran.length === phases.length) throw new Error(`${phase} failed`);
      return fn();
    },
  };
  await assert.rejects(model.trainStep(batch), new RegExp(`${phases.at(-1)} failed$`));
  model.timer = undefined;
  assert.deepEqual(ran, phases, 'the phases started in order');
  assert.deepEqual(await modelState(model), before, 'a step failing in its last phase was undone');
  assert.equal(tf.memory().numTensors, tensors, 'failed steps leaked tensors');
  await model.trainStep(batch);
  assert.notDeepEqual((await modelState(model)).generator, before.generator);
}

/** `tf.memory().numTensors` is flat over `steps` steps after the first (which makes the moments). */
export async function checkNoLeak(
  model: ImageToImageModel,
  batch: ImageBatch,
  steps = 4,
): Promise<void> {
  await model.trainStep(batch);
  const count = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) await model.trainStep(batch);
  assert.equal(tf.memory().numTensors, count, `tensors leaked over ${steps} steps`);
}

/**
 * The weights of `net` after one plain SGD step of rate `lr` on `loss` (computed here with
 * `tf.variableGrads` on the net's own variables, which are left unchanged).
 */
export function sgdStep(net: tf.LayersModel, lr: number, loss: () => tf.Scalar): number[][] {
  const variables = net.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(loss, variables);
    return variables.map((v) => Array.from(tf.sub(v, tf.mul(grads[v.name], lr)).dataSync()));
  });
}

/** Every trainable weight of `net` is within `1e-6 + 1e-4·|want|` of `want`. */
export function assertWeightsClose(net: tf.LayersModel, want: number[][], what: string): void {
  const got = net.trainableWeights.map((w) => Array.from(w.read().dataSync()));
  assert.equal(got.length, want.length, `${what}: weight count`);
  got.forEach((values, i) => {
    values.forEach((v, j) => {
      assert.ok(
        Math.abs(v - want[i][j]) <= 1e-6 + 1e-4 * Math.abs(want[i][j]),
        `${what}: weight ${i}[${j}] is ${v}, expected ${want[i][j]}`,
      );
    });
  });
}
