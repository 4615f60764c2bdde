import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_ENV, ConfigError, chooseBackend } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';

describe('chooseBackend', () => {
  after(useTestBackend);

  test('an explicit choice wins', async () => {
    assert.equal(await chooseBackend('cpu'), 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  });

  test('without a choice: GENLOSS_BACKEND, else the fastest available (wasm here)', async () => {
    const saved = process.env[BACKEND_ENV];
    try {
      process.env[BACKEND_ENV] = 'cpu';
      assert.equal(await chooseBackend(), 'cpu');
      delete process.env[BACKEND_ENV];
      const expected = tf.findBackendFactory('tensorflow') ? 'tensorflow' : 'wasm';
      assert.equal(await chooseBackend(), expected);
    } finally {
      if (saved === undefined) delete process.env[BACKEND_ENV];
      else process.env[BACKEND_ENV] = saved;
    }
  });

  test('an unknown backend is a ConfigError listing the registered ones', async () => {
    await assert.rejects(
      chooseBackend('webgpu2'),
      (e: Error) =>
        e instanceof ConfigError &&
        /'webgpu2' \(requested\) is not available; registered: .*cpu/.test(e.message),
    );
  });
});
