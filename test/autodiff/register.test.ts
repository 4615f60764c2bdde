import assert from 'node:assert/strict';
import { before, describe, it, mock } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { PATCHED_GRADIENTS, registerGradients } from '../../src/autodiff/index.ts';

before(async () => {
  await tf.setBackend('cpu');
});

/** Calls `registerGradients()` and asserts that it printed no warning. */
function registerSilently(): void {
  const warn = mock.method(console, 'warn');
  try {
    registerGradients();
    assert.equal(warn.mock.callCount(), 0);
  } finally {
    warn.mock.restore();
  }
}

describe('registerGradients', () => {
  it('registers every patched gradient, silently', () => {
    registerSilently();
    for (const config of PATCHED_GRADIENTS) assert.equal(tf.getGradient(config.kernelName), config);
  });

  it('is idempotent: a second call prints nothing and changes nothing', () => {
    registerGradients();
    const before = PATCHED_GRADIENTS.map((c) => tf.getGradient(c.kernelName));
    registerSilently();
    assert.deepEqual(
      PATCHED_GRADIENTS.map((c) => tf.getGradient(c.kernelName)),
      before,
    );
  });

  it("mutes TF.js's debug-mode override warnings and restores its flags", () => {
    const env = tf.env();
    const debugWarn = mock.method(console, 'warn', () => {});
    env.set('DEBUG', true);
    // Someone re-registers a gradient (a second copy of TF.js, say): genloss must take it back.
    tf.registerGradient({ ...tf.getGradient(tf.Abs) });
    debugWarn.mock.restore();
    try {
      registerSilently();
      assert.equal(env.getBool('IS_TEST'), false);
      assert.equal(
        tf.getGradient(tf.Abs),
        PATCHED_GRADIENTS.find((c) => c.kernelName === tf.Abs),
      );
    } finally {
      env.set('DEBUG', false);
    }
  });
});
