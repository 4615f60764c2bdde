/**
 * The DCGAN discriminator's minibatch standard deviation (src/train/architectures.ts
 * `MinibatchStdDev`, `mbstd_group_size`): values against per-group loops, the group size falling
 * back to a divisor of the batch, first- and second-order gradients (R1 differentiates through
 * it) against finite differences, the layer's place in the network, and memory.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { dcganDiscriminator, MinibatchStdDev } from '../../src/train/architectures.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose, assertNoLeak, checkGradient, uniform } from '../helpers/tensors.ts';

before(async () => {
  await useTestBackend();
});

/**
 * StyleGAN2-ADA's `MinibatchStdLayer` with one channel, in plain loops: sample n is in group
 * member n mod (N/g); the member's value is the mean over H, W, C of sqrt(biased variance over
 * the group + 1e-8).
 */
function stdChannel(x: Float32Array, [n, h, w, c]: number[], g: number): number[] {
  const members = n / g;
  const per = h * w * c;
  const value = Array.from({ length: members }, (_, m) => {
    let total = 0;
    for (let k = 0; k < per; k++) {
      const xs = Array.from({ length: g }, (_, i) => x[(i * members + m) * per + k]);
      const mean = xs.reduce((a, b) => a + b, 0) / g;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / g;
      total += Math.sqrt(variance + 1e-8);
    }
    return total / per;
  });
  return Array.from({ length: n }, (_, i) => value[i % members]);
}

for (const [n, groupSize, g] of [
  [8, 4, 4],
  [6, 4, 3],
  [2, 4, 2],
  [5, 4, 1],
]) {
  test(`MinibatchStdDev: N=${n}, group size ${groupSize} → groups of ${g}, the input then its std channel`, () => {
    const shape = [n, 3, 2, 4];
    const x = uniform(shape, n, -1, 1);
    const layer = new MinibatchStdDev({ groupSize });
    const y = layer.apply(x) as tf.Tensor;
    assert.deepEqual(y.shape, [n, 3, 2, 5]);
    assert.deepEqual(layer.computeOutputShape(shape), [n, 3, 2, 5]);
    assertClose(y.slice([0, 0, 0, 0], [n, 3, 2, 4]), x, { what: 'passed-through channels' });
    const channel = y.slice([0, 0, 0, 4], [n, 3, 2, 1]).dataSync();
    const want = stdChannel(x.dataSync() as Float32Array, shape, g);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 6; k++) {
        assertClose(channel[i * 6 + k], want[i], { atol: 1e-6, rtol: 1e-5, what: `sample ${i}` });
      }
    }
    tf.dispose([x, y]);
  });
}

test('MinibatchStdDev: first- and second-order gradients match finite differences', () => {
  const x = uniform([4, 2, 2, 2], 7, -1, 1);
  const cot = uniform([4, 2, 2, 3], 8, -1, 1);
  const layer = new MinibatchStdDev({ groupSize: 2 });
  const out = (t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, cot));
  checkGradient(out, [x], 0);
  // R1's pattern: the squared norm of the input gradient, differentiated again.
  checkGradient((t) => tf.sum(tf.square(tf.grad(out)(t))), [x], 0, { noise: 16 });
  tf.dispose([x, cot]);
});

test('DCGANDiscriminator: mbstd_group_size adds the std channel and a 3×3 conv at 4×4; 0 (default) adds nothing', () => {
  const plain = dcganDiscriminator({ type: 'DCGANDiscriminator', in_size: 16, base_channels: 4 });
  const mbstd = dcganDiscriminator({
    type: 'DCGANDiscriminator',
    in_size: 16,
    base_channels: 4,
    mbstd_group_size: 4,
  });
  assert.equal(
    plain.layers.some((l) => l instanceof MinibatchStdDev),
    false,
  );
  const at = mbstd.layers.findIndex((l) => l instanceof MinibatchStdDev);
  assert.deepEqual(mbstd.layers[at].outputShape, [null, 4, 4, 9]);
  assert.deepEqual(mbstd.layers[at + 1].outputShape, [null, 4, 4, 8]);
  assert.equal(mbstd.countParams(), plain.countParams() + (3 * 3 * 9 * 8 + 8));
  const x = uniform([6, 16, 16, 3], 3, -1, 1);
  assert.deepEqual(
    tf.tidy(() => (mbstd.predict(x) as tf.Tensor).shape),
    [6, 1],
  );
  assertNoLeak(() => mbstd.apply(x) as tf.Tensor);
  tf.dispose(x);
  plain.dispose();
  mbstd.dispose();
});
