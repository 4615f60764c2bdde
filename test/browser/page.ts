/**
 * The browser half of the browser suite: bundled by test/browser/browser.test.ts with genloss's
 * sources, loaded into headless Chromium, and driven through `globalThis.genlossPage`. Each
 * check runs on the active backend and reports what passed, what failed (with the message) and
 * how many tensors it left behind (`tf.memory().numTensors` after minus before).
 */
import '../../scripts/page-wasm.ts';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import {
  checkSecondOrder,
  chooseBackend,
  type Discriminator,
  genPathRegularizer,
  gradientPenaltyLoss,
  r1GradientPenaltyLoss,
} from '../../src/index.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { CASES } from '../autodiff/cases.ts';
import { assertClose } from '../helpers/close.ts';
import {
  checkGanCase,
  checkListCase,
  checkRelativisticCase,
  type GanCase,
  type ListCase,
  type RelativisticCase,
} from '../helpers/gan-cases.ts';
import { WorstError } from '../helpers/gan-reference.ts';
import {
  type AdvCase,
  checkAdvCase,
  checkPathCase,
  checkPenaltyCase,
  type NetFile,
  type PathCase,
  type PenaltyCase,
} from '../helpers/penalty-cases.ts';
import { checkPerceptualCase, type PerceptualCase } from '../helpers/perceptual-cases.ts';
import { checkLossCase, type RefCase, withoutFusedKernels } from '../helpers/reference-cases.ts';
import { checkSsimCase, type SsimCase } from '../helpers/ssim-cases.ts';
import { tinyGenerator } from '../helpers/tiny-gan.ts';

/** What one check reports to the Node test. */
export interface Outcome {
  passed: number;
  total: number;
  /** `name: message` of each failure. */
  failures: string[];
  /** `tf.memory().numTensors` after the check minus before. */
  leaked: number;
  /** Measured numbers worth printing (worst errors), by name. */
  measured: Record<string, number>;
}

/** Options of {@link referenceFile}. */
export interface ReferenceOptions {
  /** Run with the fused loss kernels unregistered (the op chains). */
  opChains?: boolean;
  /** Case ids to leave out, with why (reported by the Node test, not run). */
  skip?: string[];
}

/** Runs each named check, counting passes and collecting failures; `tf.memory()` around all. */
async function outcome(checks: [string, () => unknown][]): Promise<Outcome> {
  const before = tf.memory().numTensors;
  const result: Outcome = {
    passed: 0,
    total: checks.length,
    failures: [],
    leaked: 0,
    measured: {},
  };
  for (const [name, check] of checks) {
    try {
      const value = await check();
      if (typeof value === 'number') result.measured[name] = value;
      result.passed += 1;
    } catch (error) {
      result.failures.push(`${name}: ${(error as Error).message}`);
    }
  }
  result.leaked = tf.memory().numTensors - before;
  return result;
}

const fetched = new Map<string, Uint8Array>();

/** The bytes of `test/reference/<path>`, served by the Node test (fetched once). */
async function referenceBytes(path: string): Promise<Uint8Array> {
  let bytes = fetched.get(path);
  if (!bytes) {
    const response = await fetch(`/reference/${path}`);
    if (!response.ok) throw new Error(`GET /reference/${path}: ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
    fetched.set(path, bytes);
  }
  return bytes;
}

/** Activates `backend`; returns its name. */
function useBackend(backend: string): Promise<string> {
  return chooseBackend(backend);
}

/** A named check: its name and what it runs (a number it returns is reported as measured). */
type Check = [string, () => unknown];

/** The checks of a file of `checkLossCase` cases; a network loss loads its weights files first. */
async function lossCaseChecks(cases: RefCase[]): Promise<Check[]> {
  const weights: Record<string, Uint8Array> = {};
  for (const c of cases) {
    for (const key of ['pretrained', 'model_path']) {
      const name = c.config[key];
      if (typeof name === 'string') weights[name] = await referenceBytes(`perceptual/${name}`);
    }
  }
  /** Loads a network loss's files: LPIPS and DISTS take (backbone, heads). */
  const setup = (c: RefCase) => (m: { loadWeights(...files: Uint8Array[]): void }) =>
    m.loadWeights(weights[c.config.pretrained as string], weights[c.config.model_path as string]);
  return cases.map((c) => [
    c.id,
    () =>
      tf.tidy(() => checkLossCase(c, 'pretrained' in c.config ? (setup(c) as never) : undefined)),
  ]);
}

/**
 * The checks of a file of network cases, each through `worst` (test/helpers/penalty-cases.ts),
 * then one that the worst |got − want| / (1e-5 + 5e-4·|want|) is at most 1 (reported).
 */
function networkChecks<C extends { id: string }>(
  file: NetFile<C>,
  check: (c: C, worst: WorstError) => void,
): Check[] {
  const worst = new WorstError();
  return [
    ...file.cases.map((c): Check => [c.id, () => check(c, worst)]),
    [
      'worst |got − want| / tolerance',
      () => {
        worst.assertWithinTolerance(tf.getBackend());
        return worst.ratio;
      },
    ],
  ];
}

/**
 * How each reference file's cases are checked (as the Node suite checks them, through the same
 * helpers), by file name; a file not named here holds `checkLossCase` cases.
 */
const FILE_CHECKS: Record<string, (data: unknown) => Check[] | Promise<Check[]>> = {
  'ssim.json': (data) =>
    (data as { cases: SsimCase[] }).cases.map((c) => [c.id, () => checkSsimCase(c)]),
  'gan.json': (data) =>
    (data as { cases: GanCase[] }).cases.map((c) => [c.id, () => tf.tidy(() => checkGanCase(c))]),
  'relativistic.json': (data) =>
    (data as { cases: RelativisticCase[] }).cases.map((c) => [
      c.id,
      () => tf.tidy(() => checkRelativisticCase(c)),
    ]),
  'basicsr.json': async (data) => {
    const cases = (data as { cases: (RefCase | ListCase)[] }).cases;
    const lists = cases.filter((c): c is ListCase => 'structure' in c);
    return [
      ...lists.map((c): Check => [c.id, () => tf.tidy(() => checkListCase(c))]),
      ...(await lossCaseChecks(cases.filter((c): c is RefCase => !('structure' in c)))),
    ];
  },
  'perceptual/perceptual.json': async (data) => {
    const cases = (data as { cases: PerceptualCase[] }).cases.filter(
      (c) => c.type === 'PerceptualLoss',
    );
    const checks: Check[] = [];
    for (const c of cases) {
      const weights = await referenceBytes(`perceptual/${c.weights}`);
      checks.push([c.id, () => tf.tidy(() => checkPerceptualCase(c, weights))]);
    }
    return checks;
  },
  'penalties.json': (data) => {
    const file = data as NetFile<PenaltyCase | PathCase>;
    return networkChecks(file, (c, worst) =>
      'steps' in c
        ? checkPathCase(c, file, worst)
        : tf.tidy(() => checkPenaltyCase(c, file, worst)),
    );
  },
  'penalties_peers.json': (data) => {
    const file = data as NetFile<PenaltyCase>;
    return networkChecks(file, (c, worst) => tf.tidy(() => checkPenaltyCase(c, file, worst)));
  },
  'adv.json': (data) => {
    const file = data as NetFile<AdvCase>;
    return networkChecks(file, (c, worst) => checkAdvCase(c, file, worst));
  },
};

/**
 * Every case of `test/reference/<file>` through the check the Node suite runs on it
 * ({@link FILE_CHECKS}, else `checkLossCase`), but those named in `options.skip`; with
 * `options.opChains`, each with the fused loss kernels unregistered.
 */
async function referenceFile(file: string, options: ReferenceOptions = {}): Promise<Outcome> {
  const skip = new Set(options.skip ?? []);
  const data = JSON.parse(new TextDecoder().decode(await referenceBytes(file)));
  const checks = (
    await (FILE_CHECKS[file] ?? ((d) => lossCaseChecks((d as { cases: RefCase[] }).cases)))(data)
  ).filter(([id]) => !skip.has(id));
  // Each check is synchronous: unregistering the fused kernels around each one covers all of it.
  return outcome(
    options.opChains
      ? checks.map(([id, check]): Check => [id, () => withoutFusedKernels(check)])
      : checks,
  );
}

/** Entries probed per input by `checkSecondOrder`: each costs four passes, slow on WebGL. */
const PROBES = { entries: 6 };

/**
 * Worst relative error of double backprop against finite differences (`checkSecondOrder`) for
 * every case of test/autodiff/cases.ts but those named in `skip`, and for a small conv
 * discriminator with leaky ReLU (w.r.t. its input and every weight); a kernel case fails above
 * `tolerance`, the network above `networkTolerance`.
 */
async function secondOrder(
  tolerance: number,
  networkTolerance: number,
  skip: string[],
): Promise<Outcome> {
  const checks = CASES.filter((c) => !skip.includes(c.name)).map((c): [string, () => number] => [
    c.name,
    () => {
      const inputs = c.inputs();
      try {
        return worstWithin(checkSecondOrder(c.fn, inputs, PROBES).maxRelError, tolerance);
      } finally {
        tf.dispose(inputs);
      }
    },
  ]);
  checks.push([
    'conv discriminator (conv 3×3, leaky ReLU 0.2, conv 4×4/2, leaky ReLU, mean, dense)',
    () => {
      const inputs = [tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 1), ...discWeights(2)];
      try {
        const report = checkSecondOrder((x, ...w) => discriminator(w)(x), inputs, {
          ...PROBES,
          eps: 1e-3,
        });
        return worstWithin(report.maxRelError, networkTolerance);
      } finally {
        tf.dispose(inputs);
      }
    },
  ]);
  return outcome(checks);
}

function worstWithin(error: number, tolerance: number): number {
  if (!(error < tolerance)) throw new Error(`worst relative error ${error} ≥ ${tolerance}`);
  return error;
}

/** Seeded weights of {@link discriminator}: conv 3→4, its bias, conv 4→4, its bias, dense 4→1. */
function discWeights(seed: number): tf.Tensor[] {
  return [[3, 3, 3, 4], [4], [4, 4, 4, 4], [4], [4, 1]].map((shape, k) =>
    tf.randomUniform(shape, -0.5, 0.5, 'float32', seed + k),
  );
}

/** A small conv discriminator over the weights of {@link discWeights}. */
function discriminator([k1, b1, k2, b2, dense]: tf.Tensor[]): Discriminator {
  return (x) => {
    const h1 = tf.leakyRelu(
      tf.add(tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'same'), b1),
      0.2,
    );
    const h2 = tf.leakyRelu(
      tf.add(tf.conv2d(h1 as tf.Tensor4D, k2 as tf.Tensor4D, 2, 'same'), b2),
      0.2,
    );
    return tf.matMul(tf.mean(h2, [1, 2]) as tf.Tensor2D, dense as tf.Tensor2D);
  };
}

/** The penalties' values and gradients w.r.t. the network weights, as plain numbers, by name. */
function penaltyValues(): Record<string, number[]> {
  return tf.tidy(() => {
    const weights = discWeights(2).map((w) => tf.variable(w));
    const D = discriminator(weights);
    const real = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 10);
    const fake = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 11);
    const alpha = tf.randomUniform([2, 1, 1, 1], 0, 1, 'float32', 12);
    const G = tinyGenerator(20);
    const noise = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 13);
    const terms: Record<string, [() => tf.Scalar, tf.Variable[]]> = {
      'gradient penalty (pixel)': [
        () => gradientPenaltyLoss(D, real, fake, { alpha }) as tf.Scalar,
        weights,
      ],
      'gradient penalty (HWC)': [
        () => gradientPenaltyLoss(D, real, fake, { alpha, norm_mode: 'HWC' }) as tf.Scalar,
        weights,
      ],
      R1: [() => r1GradientPenaltyLoss(D, real) as tf.Scalar, weights],
      'path length': [
        () => genPathRegularizer(G, 2, 0.5, { noise })[0] as tf.Scalar,
        G.variables as tf.Variable[],
      ],
    };
    const values: Record<string, number[]> = {};
    for (const [name, [f, vars]] of Object.entries(terms)) {
      const { value, grads } = tf.variableGrads(f, vars);
      values[`${name}: value`] = Array.from(value.dataSync());
      vars.forEach((v, k) => {
        values[`${name}: d/dw${k}`] = Array.from(grads[v.name].dataSync());
      });
    }
    tf.dispose([...weights, ...G.variables]);
    return values;
  });
}

/**
 * GP (pixel and HWC norms), R1 and path length with their gradients w.r.t. every weight of a
 * small conv discriminator and a small generator, on the active backend against TF.js's `cpu`
 * backend (which the Node suite checks against PyTorch), within `1e-5 + 5e-4·|want|`.
 */
async function penalties(): Promise<Outcome> {
  const backend = tf.getBackend();
  const got = penaltyValues();
  await tf.setBackend('cpu');
  const want = penaltyValues();
  await tf.setBackend(backend);
  return outcome(
    Object.keys(want).map((name): [string, () => void] => [
      name,
      () => tf.tidy(() => assertClose(tf.tensor1d(got[name]), want[name], { what: name })),
    ]),
  );
}

/**
 * `steps` training steps of `config` (the demo GAN's, made small by the Node test) on the active
 * backend: each step's losses must be finite, and the trainer, once disposed, leaves no tensor.
 * Reports the first step's losses under `step 1: <key>`.
 */
async function train(config: unknown, steps: number, imageSize: number): Promise<Outcome> {
  const before = tf.memory().numTensors;
  const trainer = new Trainer(config, shapesDataset(16, imageSize, 0));
  const checks: [string, () => Promise<void>][] = [];
  const measured: Record<string, number> = {};
  for (let step = 1; step <= steps; step++) {
    checks.push([
      `step ${step}`,
      async () => {
        const log = await trainer.trainStep();
        for (const [key, value] of Object.entries(log)) {
          if (!Number.isFinite(value)) throw new Error(`${key} is ${value}`);
          if (step === 1) measured[`step 1: ${key}`] = value;
        }
      },
    ]);
  }
  const result = await outcome(checks);
  trainer.dispose();
  return { ...result, measured, leaked: tf.memory().numTensors - before };
}

/** What the wasm backend found and loaded in this page (call with wasm active). */
async function wasmInfo() {
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated,
    multithreadSupport: (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean,
    simdSupport: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean,
    /** XNNPACK's thread pool (`getThreadsCount`); 1 on the single-threaded binaries. */
    threads: getThreadsCount(),
    hardwareConcurrency: navigator.hardwareConcurrency,
    /** The wasm files the page fetched, by name. */
    binaries: performance
      .getEntriesByType('resource')
      .map((e) => e.name.slice(e.name.lastIndexOf('/') + 1))
      .filter((name) => name.endsWith('.wasm')),
  };
}

const api = { useBackend, wasmInfo, referenceFile, secondOrder, penalties, train };

/** The page's API, as the Node test calls it through `page.evaluate`. */
export type PageApi = typeof api;

(globalThis as unknown as { genlossPage: PageApi }).genlossPage = api;
