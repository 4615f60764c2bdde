/**
 * The fused-kernel runtime (src/backends/fused/runtime.ts): registration is idempotent and covers
 * `cpu` and `wasm`; `runFused` drops absent optional inputs; `kernelConfigs` gives one config per
 * backend.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, kernelConfigs, runFused } from '../../../src/backends/fused/runtime.ts';
import { PIXEL_LOSS_SUM, registerFusedKernels } from '../../../src/backends/index.ts';
import { chooseBackend } from '../../../src/index.ts';
import { useTestBackend } from '../../helpers/backend.ts';
import { assertClose } from '../../helpers/tensors.ts';

after(useTestBackend);

test('kernelConfigs: the same function for cpu and wasm', () => {
  const func = () => ({ dataId: {}, shape: [], dtype: 'float32' as const });
  const configs = kernelConfigs('GenlossTestKernel', func);
  assert.deepEqual(
    configs.map((c) => [c.kernelName, c.backendName]),
    [
      ['GenlossTestKernel', 'cpu'],
      ['GenlossTestKernel', 'wasm'],
    ],
  );
  assert.ok(configs.every((c) => c.kernelFunc === (func as unknown)));
});

test('registerFusedKernels is idempotent, and the kernels exist on cpu and wasm', async () => {
  const before = tf.getKernel(PIXEL_LOSS_SUM, 'cpu');
  registerFusedKernels();
  registerFusedKernels();
  assert.equal(tf.getKernel(PIXEL_LOSS_SUM, 'cpu'), before);
  for (const backend of ['cpu', 'wasm']) {
    await chooseBackend(backend);
    assert.ok(hasFusedKernel(PIXEL_LOSS_SUM), backend);
  }
});

test('runFused drops absent (undefined or null) inputs', async () => {
  await chooseBackend('cpu');
  tf.tidy(() => {
    const p = tf.tensor1d([1, -2, 3]);
    const t = tf.zeros([3]);
    const attrs = { loss: 'l1', eps: 0, perSample: false };
    assertClose(runFused(PIXEL_LOSS_SUM, [p, t, null], attrs), tf.scalar(6));
    assertClose(runFused(PIXEL_LOSS_SUM, [p, t, undefined], attrs), tf.scalar(6));
  });
});
