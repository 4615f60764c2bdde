import * as tf from '@tensorflow/tfjs';
import { loadCases, type RefCase, toTensor } from './reference.ts';
import { assertClose, checkGradient } from './tensors.ts';

/** A unary op of src/ops. */
export type Op = (x: tf.Tensor) => tf.Tensor;

/** The op types of test/reference/perceptual/ops.json (made by generate_perceptual.py). */
const OPS_JSON_TYPES = ['resizeBicubic', 'adaptiveAvgPool2d', 'maxPool2d'];

/**
 * The cases of test/reference/perceptual/ops.json whose type is one of `types`. A case of a type
 * no test file covers is an error.
 */
export function opsCases(types: readonly string[]): RefCase[] {
  const cases = loadCases('perceptual/ops.json');
  for (const c of cases) {
    if (!OPS_JSON_TYPES.includes(c.type)) throw new Error(`unknown op ${c.type}`);
  }
  return cases.filter((c) => types.includes(c.type));
}

/** Checks each PyTorch case: the output and the gradient of sum(output · cotangent). */
export function assertOpsCases(cases: RefCase[], opOf: (c: RefCase) => Op): void {
  for (const c of cases) {
    tf.tidy(() => {
      const op = opOf(c);
      const x = toTensor(c.args[0].tensor);
      const cot = toTensor(c.cotangent!);
      assertClose(op(x), toTensor(c.output), { what: `${c.id}: output` });
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), cot)))(x);
      assertClose(g, toTensor(c.grads.x), { what: `${c.id}: gradient` });
    });
  }
}

/** Second-order gradients through each op match finite differences, on a 1×5×7×2 input. */
export function checkSecondOrderOps(ops: Op[]): void {
  // Distinct values at least 0.028 apart, so that no finite-difference step switches a maximum.
  const values = Array.from({ length: 70 }, (_, i) => -1 + (2 * ((i * 37) % 70)) / 70);
  const x = tf.tensor(values, [1, 5, 7, 2]);
  for (const op of ops) {
    // f(x) = Σ (∂/∂x Σ op(x)³)² exercises the gradient of the gradient.
    const f = (t: tf.Tensor) =>
      tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(op(u), 3)))(t)));
    // f ≈ 50–110 is a sum of squared sums of cubes, whose value carries more roundings than a
    // loss's: measured up to 8.2 units of 2⁻²⁴·|f|/eps (wasm), hence 16 rather than 12.
    checkGradient(f, [x], 0, { noise: 16 });
  }
  x.dispose();
}
