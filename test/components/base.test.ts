/**
 * LossComponent (src/components/base.ts), the base of every data_info component: the data_info
 * protocol, MMagic's argument names and their aliases, and interval gating.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  CLIPLossComps,
  DataInfoError,
  DiscShiftLossComps,
  FaceIdLossComps,
  GeneratorPathRegularizerComps,
  GradientPenaltyLossComps,
  LOSSES,
  type LossComponent,
  R1GradientPenaltyComps,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertClose, uniform } from '../helpers/tensors.ts';
import { tinyGenerator } from '../helpers/tiny-gan.ts';

before(useTestBackend);

const identity = (x: tf.Tensor) => x;

describe('the data_info protocol (one base for every component)', () => {
  const shift = () =>
    new DiscShiftLossComps({ loss_weight: 2, data_info: { pred: 'disc_pred_real' } });

  test('the outputs dict, positional or as {outputs_dict}, fills the arguments', () => {
    tf.tidy(() => {
      const pred = tf.tensor2d([[1, -2]]);
      const outputs = { disc_pred_real: pred, unrelated: 3 };
      assertClose(shift().forward(outputs) as tf.Tensor, tf.tensor2d([[2, 8]]));
      assertClose(shift().forward({ outputs_dict: outputs }) as tf.Tensor, tf.tensor2d([[2, 8]]));
    });
  });

  test('a missing key is a DataInfoError naming it and listing the available keys', () => {
    assert.throws(
      () => shift().forward({ disc_pred_fake: tf.zeros([1]), iteration: 0 }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "DiscShiftLossComps: data_info argument 'pred' needs output 'disc_pred_real', which the outputs dict does not have. Available: disc_pred_fake, iteration",
    );
  });

  test('an argument given directly and through data_info is an error', () => {
    assert.throws(
      () =>
        shift().forward({ outputs_dict: { disc_pred_real: tf.zeros([1]) }, pred: tf.zeros([1]) }),
      /DiscShiftLossComps: argument 'pred' is given twice/,
    );
  });

  test('with data_info, anything but one outputs dict is refused', () => {
    assert.throws(
      () => shift().forward(tf.zeros([1]), tf.zeros([1])),
      /call with one outputs dict/,
    );
    assert.throws(() => shift().forward(), DataInfoError);
  });

  test('without data_info, positional arguments pass straight through', () => {
    tf.tidy(() => {
      const m = new DiscShiftLossComps();
      assertClose(m.forward(tf.tensor1d([3])) as tf.Tensor, [9]);
      assert.throws(
        () => m.forward(tf.zeros([1]), tf.zeros([1])),
        /takes at most 1 arguments \(pred\), got 2/,
      );
    });
  });

  test("DiscShiftLossComps is not reduced (a (2,10) input stays 2-D, as in MMagic's unit test)", () => {
    tf.tidy(() => {
      const out = new DiscShiftLossComps().forward(uniform([2, 10], 1)) as tf.Tensor;
      assert.equal(out.rank, 2);
    });
  });

  test("lossName() is the configured loss_name, with MMagic's defaults", () => {
    assert.equal(new DiscShiftLossComps().lossName(), 'loss_disc_shift');
    assert.equal(new GradientPenaltyLossComps().lossName(), 'loss_gp');
    assert.equal(new R1GradientPenaltyComps().lossName(), 'loss_r1_gp');
    assert.equal(new GeneratorPathRegularizerComps().lossName(), 'loss_path_regular');
    assert.equal(new DiscShiftLossComps({ loss_name: 'loss_shift2' }).lossName(), 'loss_shift2');
  });
});

describe("argument names: MMagic's, aliases declared once in LossComponent", () => {
  /**
   * Each component with MMagic's argument names (`disc_shift_loss(pred)`, …) in order, genloss
   * additions last, and how an error lists them.
   */
  const mmagicArgs: [new (cfg?: object) => LossComponent, string[], string][] = [
    [DiscShiftLossComps, ['pred'], 'pred (alias: x)'],
    [
      GradientPenaltyLossComps,
      ['discriminator', 'real_data', 'fake_data', 'mask', 'alpha'],
      'discriminator, real_data, fake_data, mask, alpha',
    ],
    [
      R1GradientPenaltyComps,
      ['discriminator', 'real_data', 'mask', 'loss_scaler'],
      'discriminator, real_data, mask, loss_scaler',
    ],
    [
      GeneratorPathRegularizerComps,
      ['generator', 'num_batches', 'loss_scaler', 'noise'],
      'generator, num_batches, loss_scaler, noise',
    ],
    [FaceIdLossComps, ['pred', 'gt'], 'pred, gt'],
    [CLIPLossComps, ['image', 'text'], 'image, text'],
  ];

  test("every component's arguments are MMagic's names (genloss additions last)", () => {
    for (const [Comps, names] of mmagicArgs) {
      const dataInfo = Object.fromEntries(names.map((n) => [n, `out_${n}`]));
      const m = new Comps({ data_info: dataInfo });
      assert.deepEqual(m.argumentSpec.names, names, Comps.name);
      assert.deepEqual(m.dataInfo, dataInfo, Comps.name);
      m.dispose();
    }
  });

  test("DiscShiftLossComps reads MMagic's data_info {pred}; 'x' is an alias for pred", () => {
    tf.tidy(() => {
      const outputs = { disc_pred_real: tf.tensor2d([[1, -2]]) };
      const byName = new DiscShiftLossComps({ data_info: { pred: 'disc_pred_real' } });
      assertClose(byName.forward(outputs) as tf.Tensor, tf.tensor2d([[1, 4]]));
      const byAlias = LOSSES.build({
        type: 'DiscShiftLossComps',
        data_info: { x: 'disc_pred_real' },
      });
      assert.deepEqual(byAlias.dataInfo, { pred: 'disc_pred_real' });
      assertClose(byAlias.forward(outputs) as tf.Tensor, tf.tensor2d([[1, 4]]));
      assert.deepEqual(byAlias.argumentSpec.aliases, { x: 'pred' });
      const direct = new DiscShiftLossComps({ data_info: {} });
      assertClose(direct.forward({ outputs_dict: {}, x: tf.tensor1d([3]) }) as tf.Tensor, [9]);
    });
    assert.throws(
      () => new DiscShiftLossComps({ data_info: { pred: 'disc_pred_real', x: 'disc_pred_fake' } }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "DiscShiftLossComps: argument 'pred' is given twice, as data_info keys 'pred' and 'x'",
    );
  });

  test('a data_info key that is no argument is a DataInfoError at construction, listing the arguments', () => {
    assert.throws(
      () =>
        LOSSES.build({ type: 'DiscShiftLossComps', data_info: { prediction: 'disc_pred_real' } }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "DiscShiftLossComps: data_info key 'prediction' is not an argument of the loss; expected one of: pred (alias: x)",
    );
    for (const [Comps, names, listing] of mmagicArgs) {
      assert.throws(
        () => new Comps({ data_info: { [names[0]]: 'a', weight: 'b' } }),
        (e: Error) =>
          e instanceof DataInfoError &&
          e.message ===
            `${Comps.name}: data_info key 'weight' is not an argument of the loss; expected one of: ${listing}`,
        Comps.name,
      );
    }
  });

  test('an extra argument given beside the outputs dict must be an argument too', () => {
    const r1 = new R1GradientPenaltyComps({
      data_info: { discriminator: 'disc', real_data: 'real_imgs' },
    });
    assert.throws(
      () =>
        r1.forward({
          outputs_dict: { disc: identity, real_imgs: tf.ones([1, 2, 2, 3]) },
          norm_mode: 'HWC',
        }),
      (e: Error) =>
        e instanceof DataInfoError &&
        e.message ===
          "R1GradientPenaltyComps: keyword 'norm_mode' is not an argument of the loss; expected one of: discriminator, real_data, mask, loss_scaler",
    );
  });
});

describe('interval gating', () => {
  const r1 = () =>
    new R1GradientPenaltyComps({
      interval: 2,
      data_info: { discriminator: 'disc', real_data: 'real_imgs' },
    });

  test("R1 with interval 2 runs at even iterations and returns null at odd ones (MMagic's unit test)", () => {
    tf.tidy(() => {
      const outputs = { disc: identity, real_imgs: tf.ones([1, 2, 2, 3]) };
      assert.equal(r1().forward({ ...outputs, iteration: 3 }), null);
      assertClose(r1().forward({ ...outputs, iteration: 4 }) as tf.Tensor, 3);
    });
  });

  test("a missing 'iteration' is a DataInfoError; interval > 1 without data_info is a ConfigError", () => {
    assert.throws(
      () => r1().forward({ disc: identity, real_imgs: tf.ones([1, 2, 2, 3]) }),
      /R1GradientPenaltyComps: interval 2 needs output 'iteration'/,
    );
    assert.throws(
      () => new R1GradientPenaltyComps({ interval: 2 }).forward(identity, tf.ones([1, 2, 2, 3])),
      /interval 2 needs data_info/,
    );
  });

  test('the path regulariser leaves its running mean unchanged on a skipped iteration', () => {
    const g = tinyGenerator();
    const m = new GeneratorPathRegularizerComps({
      interval: 2,
      data_info: { generator: 'gen', num_batches: 'batch_size' },
    });
    tf.dispose(m.forward({ gen: g, batch_size: 2, iteration: 0 }) as tf.Tensor);
    const after0 = m.meanPathLength.dataSync()[0];
    assert.ok(after0 > 0);
    assert.equal(m.forward({ gen: g, batch_size: 2, iteration: 1 }), null);
    assert.equal(m.meanPathLength.dataSync()[0], after0);
    assert.deepEqual(m.buffers(), [m.meanPathLength]);
    m.dispose();
    tf.dispose(g.variables);
  });
});
