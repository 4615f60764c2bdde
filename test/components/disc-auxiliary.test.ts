/**
 * The discriminator's auxiliary components (src/components/disc-auxiliary.ts):
 * GradientPenaltyLossComps, and the config checks of R1GradientPenaltyComps and DiscShiftLossComps.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GradientPenaltyLossComps, gradientPenaltyLoss, LOSSES } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

const identity = (x: tf.Tensor) => x;

describe('GradientPenaltyLossComps', () => {
  test("identity discriminator: 10·(√3 − 1)² = 5.358983 (MMagic's unit test)", () => {
    tf.tidy(() => {
      const x = tf.fill([1, 6, 6, 3], 2);
      const m = new GradientPenaltyLossComps({ loss_weight: 10 });
      assertClose(m.forward(identity, x, x) as tf.Tensor, 5.358983, { rtol: 1e-6 });
    });
  });

  test('norm_mode is honoured without data_info too (MMagic ignores it there)', () => {
    tf.tidy(() => {
      const real = uniform([2, 3, 3, 2], 1);
      const fake = uniform([2, 3, 3, 2], 2);
      const alpha = uniform([2, 1, 1, 1], 3);
      const d = (x: tf.Tensor) => tf.sum(tf.square(x), [1, 2, 3]);
      const hwc = new GradientPenaltyLossComps({ norm_mode: 'HWC' });
      assertClose(
        hwc.forward(d, real, fake, null, alpha) as tf.Tensor,
        gradientPenaltyLoss(d, real, fake, { norm_mode: 'HWC', alpha }),
      );
      const viaDict = new GradientPenaltyLossComps({
        norm_mode: 'HWC',
        data_info: { discriminator: 'disc', real_data: 'real', fake_data: 'fake', alpha: 'alpha' },
      });
      assertClose(
        viaDict.forward({ disc: d, real, fake, alpha }) as tf.Tensor,
        hwc.forward(d, real, fake, null, alpha) as tf.Tensor,
      );
    });
  });

  test('configs are validated like every loss', () => {
    assert.throws(
      () => LOSSES.build({ type: 'GradientPenaltyLossComps', norm_mode: 'hwc' }),
      /GradientPenaltyLossComps: option 'norm_mode' must be one of 'pixel'\|'HWC', got 'hwc'/,
    );
    assert.throws(
      () => LOSSES.build({ type: 'R1GradientPenaltyComps', use_apex_amp: true }),
      /R1GradientPenaltyComps: option 'use_apex_amp' must be one of false, got true/,
    );
    assert.throws(
      () => LOSSES.build({ type: 'DiscShiftLossComps', data_info: { pred: 3 } }),
      /DiscShiftLossComps: option 'data_info.pred' must be a string, got 3/,
    );
  });
});
