import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import {
  type BuiltinLossTypes,
  ConfigError,
  L1Loss,
  LOSSES,
  LossModule,
  lossOptions,
  MSELoss,
  Registry,
} from '../../src/index.ts';

class Toy extends LossModule<ReturnType<typeof toyOptions>> {
  static override readonly lossType = 'ToyLoss';
  static override readonly options = toyOptions();
}
function toyOptions() {
  return lossOptions(
    { loss_name: 'loss_toy' },
    { mode: z.enum(['a', 'b']).default('a'), scale: z.number().int().min(1) },
  );
}

/** The names of built-in losses whose built type has no `forward` method: must be none. */
type WithoutForward = {
  [K in keyof BuiltinLossTypes]: BuiltinLossTypes[K] extends { forward: unknown } ? never : K;
}[keyof BuiltinLossTypes];
const everyBuiltTypeHasForward: [WithoutForward] extends [never] ? true : false = true;

describe('Registry', () => {
  test('every registered class is typed by LOSSES.build from the class itself', () => {
    assert.equal(everyBuiltTypeHasForward, true);
    // Each line is a type error (TS2339) unless build's type for that name is the class.
    const typed = [
      LOSSES.build({ type: 'GANLoss', gan_type: 'vanilla' }).forward,
      LOSSES.build({ type: 'GANLossComps', gan_type: 'hinge' }).forward,
      LOSSES.build({ type: 'DiscShiftLoss' }).forward,
      LOSSES.build({ type: 'GradientPenaltyLoss' }).forward,
      LOSSES.build({ type: 'AdvLoss', loss_type: 'gan' }).forward,
      LOSSES.build({ type: 'TransferalPerceptualLoss' }).forward,
    ];
    for (const forward of typed) assert.equal(typeof forward, 'function');
    for (const name of LOSSES.list()) {
      assert.equal(typeof LOSSES.get(name).prototype.forward, 'function', name);
    }
    const networkLosses: (keyof BuiltinLossTypes)[] = [
      'PerceptualLoss',
      'CLIPLoss',
      'FaceIdLoss',
      'LightCNNFeatureLoss',
    ];
    const registered: string[] = LOSSES.list();
    for (const name of networkLosses) assert.ok(registered.includes(name));
    const forwardOf = (built: BuiltinLossTypes[(typeof networkLosses)[number]]) => built.forward;
    assert.equal(typeof forwardOf, 'function');
  });

  test('build one config, or an array of configs', () => {
    const one = LOSSES.build({ type: 'L1Loss', loss_weight: 2 });
    assert.ok(one instanceof L1Loss);
    assert.equal(one.lossWeight, 2);
    const many = LOSSES.build([{ type: 'L1Loss' }, { type: 'MSELoss', reduction: 'sum' }]);
    assert.ok(many[0] instanceof L1Loss && many[1] instanceof MSELoss);
    assert.equal((many[1] as MSELoss).cfg.reduction, 'sum');
  });

  test("defaults are MMagic's", () => {
    const m = new L1Loss();
    assert.deepEqual(m.cfg, {
      loss_weight: 1,
      loss_name: 'loss_l1',
      reduction: 'mean',
      sample_wise: false,
    });
  });

  test('an unknown type suggests the closest registered names', () => {
    assert.throws(
      () => LOSSES.build({ type: 'L1loss' }),
      (e: Error) =>
        e instanceof ConfigError && /unknown type 'L1loss'\. Did you mean 'L1Loss'/.test(e.message),
    );
    assert.throws(() => LOSSES.build({ type: 'MSE' }), /Did you mean 'MSELoss'/);
  });

  test('a config without a type, or not an object, is refused', () => {
    assert.throws(() => LOSSES.build({} as { type: string }), /config needs 'type'/);
    assert.throws(
      () => LOSSES.build([{ type: 'L1Loss' }, 3 as unknown as { type: string }]),
      /config\[1\] must be an object/,
    );
  });

  test('register, get, list and describe', () => {
    const reg = new Registry('toy');
    assert.equal(reg.register(Toy), Toy);
    assert.equal(reg.register(Toy), Toy, 'registering the same class again is a no-op');
    assert.ok(reg.has('ToyLoss'));
    assert.deepEqual(reg.list(), ['ToyLoss']);
    assert.deepEqual(reg.describe()[0].options, [
      { name: 'loss_weight', type: 'number', default: 1, required: false },
      { name: 'loss_name', type: 'string', default: 'loss_toy', required: false },
      { name: 'mode', type: 'string', default: 'a', allowed: ['a', 'b'], required: false },
      { name: 'scale', type: 'integer', default: undefined, required: true },
    ]);
    class Other extends Toy {}
    assert.throws(() => reg.register(Other), /'ToyLoss' is already registered/);
  });

  test('option errors name the loss, the key, the expectation and the value', () => {
    assert.throws(() => new Toy({ scale: 0 }), /ToyLoss: option 'scale' must be >= 1, got 0/);
    assert.throws(
      () => LOSSES.build({ type: 'L1Loss', reduction: 'meen' }),
      (e: Error) =>
        e.message ===
        "L1Loss: option 'reduction' must be one of 'none'|'mean'|'sum', got 'meen'. Did you mean 'mean'?",
    );
    assert.throws(
      () => new Toy({ scale: 1.5 }),
      /ToyLoss: option 'scale' must be an integer, got 1.5/,
    );
    assert.throws(
      () => new Toy({} as { scale: number }),
      /ToyLoss: option 'scale' must be a number, got undefined/,
    );
    assert.throws(
      () => new Toy({ scale: 1, mode: 'c' as 'a' }),
      /ToyLoss: option 'mode' must be one of 'a'\|'b', got 'c'/,
    );
    assert.throws(
      () => new Toy(null as unknown as { scale: number }),
      /ToyLoss: the config must be an object, got null/,
    );
  });
});
