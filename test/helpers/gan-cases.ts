/**
 * The cases of test/reference/gan.json (generate_gan.py: GANLoss, GANLossComps, GaussianBlur,
 * DiscShiftLoss), relativistic.json (generate_relativistic.py) and the list-valued cases of
 * basicsr.json (generate_basicsr.py: GANLoss, MultiScaleGANLoss, GANFeatLoss on lists of
 * discriminator outputs) and their checks, without Node built-ins: the Node suite
 * (test/losses/{gan,relativistic,basicsr}.test.ts) and the browser suite (test/browser/) both run
 * them.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type DiscShiftLoss,
  discShiftLoss,
  type GANLoss,
  GaussianBlur,
  LOSSES,
  type RelativisticGANLoss,
  relativisticGanLoss,
} from '../../src/index.ts';
import { assertClose } from './close.ts';
import { type RefTensor, toTensor } from './reference-cases.ts';

/** A case of gan.json (format in test/reference/README.md). */
export interface GanCase {
  id: string;
  type: 'GANLoss' | 'GANLossComps' | 'GaussianBlur' | 'DiscShiftLoss' | 'disc_shift_loss';
  config: Record<string, unknown>;
  call?: { target_is_real: boolean; is_disc: boolean };
  args: { name: string; tensor: RefTensor }[];
  output: RefTensor;
  cotangent?: RefTensor;
  grads: Record<string, RefTensor>;
}

/** The case's loss as a function of its tensor arguments, in the order of `c.args`. */
function lossOf(c: GanCase): (...args: tf.Tensor[]) => tf.Tensor {
  switch (c.type) {
    case 'GANLoss':
    case 'GANLossComps': {
      const module = LOSSES.build({ type: c.type, ...c.config }) as GANLoss;
      const { target_is_real, is_disc } = c.call!;
      return (input, mask) => module.forward(input, target_is_real, is_disc, mask ?? null);
    }
    case 'GaussianBlur': {
      const blur = new GaussianBlur(c.config);
      return (x) => blur.forward(x);
    }
    case 'DiscShiftLoss': {
      const module = LOSSES.build({ type: c.type, ...c.config }) as DiscShiftLoss;
      return (x) => module.forward(x);
    }
    case 'disc_shift_loss':
      return (x) => discShiftLoss(x);
  }
}

/**
 * Checks a gan.json case: the output, and the gradients (of the output, or of
 * `Σ output·cotangent`) w.r.t. every argument `c.grads` lists. Call inside `tf.tidy`.
 */
export function checkGanCase(c: GanCase): void {
  const args = c.args.map((a) => toTensor(a.tensor));
  const f = lossOf(c);
  assertClose(f(...args), toTensor(c.output), { what: `${c.id}: output` });
  const names = Object.keys(c.grads);
  const at = names.map((n) => c.args.findIndex((a) => a.name === n));
  const cot = c.cotangent ? toTensor(c.cotangent) : null;
  const grads = tf.grads((...xs: tf.Tensor[]) => {
    const full = args.slice();
    at.forEach((i, k) => {
      full[i] = xs[k];
    });
    const y = f(...full);
    return cot ? tf.sum(tf.mul(y, cot)) : y;
  })(at.map((i) => args[i]));
  names.forEach((n, k) => {
    assertClose(grads[k], toTensor(c.grads[n]), { what: `${c.id}: d/d${n}` });
  });
}

/** A case of relativistic.json: the loss, its real and fake terms and its gradients. */
export interface RelativisticCase {
  id: string;
  type: 'RelativisticGANLoss';
  config: { gan_type: string; relativistic: string; loss_weight: number };
  call: { is_disc: boolean };
  args: { name: string; tensor: RefTensor }[];
  output: RefTensor;
  terms: { real: RefTensor; fake: RefTensor };
  grads: { predReal: RefTensor; predFake: RefTensor };
}

/**
 * Checks a relativistic.json case: the module's output, real and fake terms and gradients
 * w.r.t. both predictions, and the function (the module without `loss_weight`, which only
 * generator calls have). Call inside `tf.tidy`.
 */
export function checkRelativisticCase(c: RelativisticCase): void {
  const module = LOSSES.build({ type: c.type, ...c.config }) as RelativisticGANLoss;
  const [predReal, predFake] = c.args.map((a) => toTensor(a.tensor));
  const { is_disc } = c.call;
  const what = (s: string) => ({ what: `${c.id}: ${s}` });
  assertClose(module.forward(predReal, predFake, is_disc), toTensor(c.output), what('output'));
  const terms = module.relativisticTerms(predReal, predFake, is_disc);
  assertClose(terms.real, toTensor(c.terms.real), what('real term'));
  assertClose(terms.fake, toTensor(c.terms.fake), what('fake term'));
  const [gReal, gFake] = tf.grads((r: tf.Tensor, f: tf.Tensor) => module.forward(r, f, is_disc))([
    predReal,
    predFake,
  ]);
  assertClose(gReal, toTensor(c.grads.predReal), what('d/dpredReal'));
  assertClose(gFake, toTensor(c.grads.predFake), what('d/dpredFake'));
  const { gan_type, relativistic } = c.config;
  const plain = relativisticGanLoss(predReal, predFake, {
    gan_type: gan_type as RelativisticGANLoss['cfg']['gan_type'],
    relativistic: relativistic as 'average' | 'pairwise',
    is_disc,
  });
  const scale = is_disc ? 1 : c.config.loss_weight;
  assertClose(tf.mul(tf.add(plain.real, plain.fake), scale), toTensor(c.output), what('function'));
}

/** A nested list of indices into a case's `tensors`. */
type Structure = number | Structure[];

/** A case of basicsr.json with list-valued arguments (format in test/reference/README.md). */
export interface ListCase {
  id: string;
  type: 'GANLoss' | 'MultiScaleGANLoss' | 'GANFeatLoss';
  config: Record<string, unknown>;
  call: { target_is_real?: boolean; is_disc?: boolean };
  structure: Record<string, Structure>;
  tensors: RefTensor[];
  output: RefTensor;
  grads: RefTensor[];
}

function rebuild(s: Structure, xs: tf.Tensor[]): unknown {
  return typeof s === 'number' ? xs[s] : s.map((t) => rebuild(t, xs));
}

/**
 * Checks a list case of basicsr.json: the output, and the gradient w.r.t. every tensor (zero
 * where the loss does not depend on it, or where it is detached). `0 · Σ sum(x)` is added so
 * that every tensor is reached by the tape; it adds exact zeros. Call inside `tf.tidy`.
 */
export function checkListCase(c: ListCase): void {
  const xs = c.tensors.map(toTensor);
  const m = LOSSES.build({ type: c.type, ...c.config } as never) as unknown as {
    forward(...args: unknown[]): tf.Tensor;
    dispose(): void;
  };
  const call = (ts: tf.Tensor[]) =>
    c.type === 'GANFeatLoss'
      ? m.forward(rebuild(c.structure.pred_fake, ts), rebuild(c.structure.pred_real, ts))
      : m.forward(rebuild(c.structure.input, ts), c.call.target_is_real, c.call.is_disc);
  assertClose(call(xs), toTensor(c.output), { what: `${c.id}: output` });
  const grads = tf.grads((...ts: tf.Tensor[]) =>
    tf.add(call(ts), tf.mul(0, tf.addN(ts.map((t) => tf.sum(t))))),
  )(xs);
  grads.forEach((g, k) => {
    assertClose(g, toTensor(c.grads[k]), { what: `${c.id}: d/dtensors[${k}]` });
  });
  m.dispose();
}
