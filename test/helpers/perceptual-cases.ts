/**
 * The PerceptualLoss cases of test/reference/perceptual/perceptual.json (generate_perceptual.py:
 * small VGG-shaped networks whose weights are safetensors files in test/reference/perceptual/)
 * and their check, without Node built-ins: the Node suite (test/losses/perceptual.test.ts) reads
 * the weights from disk, the browser suite (test/browser/) fetches them.
 */
import * as tf from '@tensorflow/tfjs';
import { LOSSES, type PerceptualLoss } from '../../src/index.ts';
import { assertClose } from './close.ts';
import { type RefTensor, toTensor } from './reference-cases.ts';

/** A case of perceptual.json: a loss, its weights file and its outputs and gradients. */
export interface PerceptualCase {
  id: string;
  type: string;
  config: Record<string, unknown>;
  /** The weights file, in test/reference/perceptual/. */
  weights?: string;
  args: { name: string; tensor: RefTensor }[];
  outputs?: (RefTensor | null)[];
  output?: RefTensor;
  grads: Record<string, RefTensor | (RefTensor | null)[]>;
  grads2?: Record<string, RefTensor>;
}

/**
 * Checks a PerceptualLoss case with the network weights `weights` (the bytes of `c.weights`):
 * the perceptual and style parts (null where the case has none), their gradients w.r.t. the
 * image, none w.r.t. the target (MMagic detaches it), and for a second-order case
 * `∇x Σ(∇x percep)²`. Call inside `tf.tidy`.
 */
export function checkPerceptualCase(c: PerceptualCase, weights: Uint8Array): void {
  const loss = LOSSES.build({ type: 'PerceptualLoss', ...c.config }) as PerceptualLoss;
  loss.loadWeights(weights, c.weights);
  const [x, gt] = c.args.map((a) => toTensor(a.tensor));
  const out = loss.forward(x, gt);
  const grads = c.grads.x as (RefTensor | null)[];
  for (const part of [0, 1]) {
    const name = part ? 'style' : 'percep';
    const want = c.outputs![part];
    if (want === null) {
      if (out[part] !== null) throw new Error(`${c.id}: ${name} must be null`);
      continue;
    }
    assertClose(out[part]!, toTensor(want), { what: `${c.id}: ${name}` });
    const g = tf.grad((t: tf.Tensor) => loss.forward(t, gt)[part]!)(x);
    assertClose(g, toTensor(grads[part]!), { what: `${c.id}: d${name}/dx`, atol: 1e-6 });
    const gg = tf.grad((t: tf.Tensor) => loss.forward(x, t)[part]!)(gt);
    assertClose(tf.max(tf.abs(gg)), 0, { what: `${c.id}: gradient w.r.t. gt`, atol: 0, rtol: 0 });
  }
  if (c.grads2) {
    const g1 = (t: tf.Tensor) => tf.grad((u: tf.Tensor) => loss.forward(u, gt)[0]!)(t);
    const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.square(g1(t))))(x);
    assertClose(g2, toTensor(c.grads2.x), { what: `${c.id}: second-order gradient`, atol: 1e-6 });
  }
  loss.dispose();
}
