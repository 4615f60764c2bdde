/**
 * The workloads of the browser benchmark (`npm run bench:browser`, bench/browser.ts) and their
 * timing, without Node built-ins or side effects: bench/browser.ts bundles this module into the
 * page it opens in headless Chromium (behind scripts/page-wasm.ts, its wasm set-up) and
 * runs the same functions on Node, so that both sides time the same steps.
 *
 * - `l1`, `mse`, `charbonnier`: bench/workloads.ts's genloss steps (forward, gradient w.r.t. the
 *   prediction, reading the loss) on 16×64×64×3 images (bench/workloads.ts times 16×256×256×3,
 *   which takes SwiftShader's software WebGL seconds per step).
 * - `wgan_gp_step`: bench/workloads.ts's WGAN-GP discriminator step as it is (16×64×64×3 images,
 *   D 3→64→128→256→1, the penalty's gradient w.r.t. every D weight: double backprop).
 * - `demo_train_step`: one `Trainer.trainStep()` of configs/demo.yaml (a D step with R1 and the
 *   disc shift, then a G step; batch 32, 32×32 images) with R1's `interval` set to 1, so that
 *   every timed step runs the lazy R1 (which configs/demo.yaml runs every 8th step).
 */
import * as tf from '@tensorflow/tfjs';
import { shapesDataset } from '../src/train/datasets.ts';
import { Trainer } from '../src/train/trainer.ts';
import { WORKLOADS } from './workloads.ts';

/** One workload: how to set it up, and how many steps to time. */
interface BrowserWorkload {
  name: string;
  /** What one step computes, on what shapes. */
  shape: string;
  /** Why it is not run on WebGL, where it is not. */
  notOnWebgl?: string;
  /** Untimed steps first (shader compilation, wasm warm-up), then timed ones. */
  warmup: number;
  repeats: number;
  /** Builds the step and what to free after; `config` is configs/demo.yaml, parsed. */
  setup(config: DemoConfig): Promise<{ step: () => unknown; free: () => void }>;
}

/** configs/demo.yaml as parsed (the page receives it from bench/browser.ts). */
export type DemoConfig = {
  model: { disc_auxiliary_loss: { type: string }[] } & Record<string, unknown>;
  data: Record<string, unknown>;
  train: Record<string, unknown>;
} & Record<string, unknown>;

const ELEMENTWISE_SHAPE = [16, 64, 64, 3];

function workloadNamed(name: string) {
  const w = WORKLOADS.find((x) => x.name === name);
  if (!w) throw new Error(`bench/workloads.ts has no workload '${name}'`);
  return w;
}

function elementwise(name: 'l1' | 'mse' | 'charbonnier'): BrowserWorkload {
  return {
    name,
    shape: `${ELEMENTWISE_SHAPE.join('×')}, forward + d/dpred`,
    warmup: 3,
    repeats: 15,
    setup: async () => {
      const inputs = {
        pred: tf.randomUniform(ELEMENTWISE_SHAPE, -1, 1, 'float32', 1),
        target: tf.randomUniform(ELEMENTWISE_SHAPE, -1, 1, 'float32', 2),
      };
      return { step: workloadNamed(name).genloss(inputs), free: () => tf.dispose(inputs) };
    },
  };
}

/** The workloads of the browser benchmark, in table order. */
export const BROWSER_WORKLOADS: BrowserWorkload[] = [
  elementwise('l1'),
  elementwise('mse'),
  elementwise('charbonnier'),
  {
    name: 'wgan_gp_step',
    shape: workloadNamed('wgan_gp_step').shape,
    notOnWebgl: 'over 100 s a step on SwiftShader (6 steps did not end in 600 s)',
    warmup: 1,
    repeats: 5,
    setup: async () => {
      const w = workloadNamed('wgan_gp_step');
      const inputs = w.setup();
      return { step: w.genloss(inputs), free: () => tf.dispose(inputs) };
    },
  },
  {
    name: 'demo_train_step',
    shape: 'configs/demo.yaml, batch 32, 32×32, D step with R1 + G step',
    warmup: 1,
    repeats: 5,
    setup: async (demo) => {
      const config = {
        ...demo,
        model: {
          ...demo.model,
          disc_auxiliary_loss: demo.model.disc_auxiliary_loss.map((l) =>
            l.type === 'R1GradientPenaltyComps' ? { ...l, interval: 1 } : l,
          ),
        },
      };
      const size = (demo.data as { size: number }).size;
      const trainer = new Trainer(config, shapesDataset(256, size, 0));
      return { step: () => trainer.trainStep(), free: () => trainer.dispose() };
    },
  },
];

/** The times of one workload on the active backend, in ms, and the tensors its timed steps left. */
export interface Timing {
  name: string;
  backend: string;
  times_ms: number[];
  leaked: number;
}

/** Times `name` on the active backend: its warm-up steps, then `repeats` timed ones. */
export async function timeWorkload(name: string, demo: DemoConfig): Promise<Timing> {
  const w = BROWSER_WORKLOADS.find((x) => x.name === name);
  if (!w) throw new Error(`no browser workload '${name}'`);
  const { step, free } = await w.setup(demo);
  for (let i = 0; i < w.warmup; i++) await step();
  const before = tf.memory().numTensors;
  const times: number[] = [];
  for (let i = 0; i < w.repeats; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  free();
  return {
    name,
    backend: tf.getBackend(),
    times_ms: times,
    leaked: tf.memory().numTensors - before,
  };
}
