/**
 * TransferalPerceptualLoss (src/losses/transferal.ts) against PyTorch
 * (test/reference/perceptual/perceptual.json, made by generate_perceptual.py), plus errors and
 * memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, LOSSES, TransferalPerceptualLoss } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { loadCases, type RefTensor, toTensor } from '../helpers/reference.ts';
import { assertClose, assertNoLeak } from '../helpers/tensors.ts';

/** A TransferalPerceptualLoss case of perceptual.json. */
interface TransferalCase {
  id: string;
  type: string;
  config: Record<string, unknown>;
  args: { name: string; tensor: RefTensor }[];
  output?: RefTensor;
  grads: Record<string, RefTensor>;
}

const cases = loadCases<TransferalCase>('perceptual/perceptual.json');

function checkTransferal(c: TransferalCase): void {
  const loss = LOSSES.build({ type: c.type, ...c.config }) as TransferalPerceptualLoss;
  const named = Object.fromEntries(c.args.map((a) => [a.name, toTensor(a.tensor)]));
  const maps = Object.keys(named)
    .filter((k) => k.startsWith('maps'))
    .map((k) => named[k]);
  const textures = Object.keys(named)
    .filter((k) => k.startsWith('textures'))
    .map((k) => named[k]);
  const soft = named.soft_attention;
  assertClose(loss.forward(maps, soft, textures), toTensor(c.output!), { what: `${c.id}: output` });
  // Without attention the soft map, and the levels beyond the third, take no part (zero grads).
  const k = maps.length;
  const used = c.config.use_attention ? k : Math.min(k, 3);
  const names = [...maps.map((_, i) => `maps${i}`), ...textures.map((_, i) => `textures${i}`)];
  const xs = [...maps.slice(0, used), ...textures.slice(0, used)];
  if (c.config.use_attention) xs.push(soft);
  const grads = tf.grads((...ts: tf.Tensor[]) =>
    loss.forward(
      ts.slice(0, used),
      c.config.use_attention ? ts[2 * used] : null,
      ts.slice(used, 2 * used),
    ),
  )(xs);
  const gradOf = (n: string): tf.Tensor | null => {
    if (n === 'soft_attention') return c.config.use_attention ? grads[2 * used] : null;
    const i = Number(n.replace(/\D+/, ''));
    if (i >= used) return null;
    return grads[n.startsWith('maps') ? i : used + i];
  };
  for (const n of [...names, 'soft_attention']) {
    const want = toTensor(c.grads[n] as RefTensor);
    assertClose(gradOf(n) ?? tf.zerosLike(want), want, { what: `${c.id}: d/d${n}` });
  }
}

describe('TransferalPerceptualLoss', () => {
  before(async () => {
    await useTestBackend();
  });

  const transferal = cases.filter((c) => c.type === 'TransferalPerceptualLoss');
  test(`${transferal.length} PyTorch cases (attention on/off, levels, criteria) with gradients`, () => {
    for (const c of transferal) tf.tidy(() => checkTransferal(c));
  });

  test('errors: criterion, mismatched levels, attention shape', () => {
    assert.throws(() => new TransferalPerceptualLoss({ criterion: 'l2' as 'l1' }), ConfigError);
    const loss = new TransferalPerceptualLoss();
    const soft = tf.zeros([1, 2, 2, 1]);
    const a = tf.zeros([1, 2, 2, 3]);
    const b = tf.zeros([1, 4, 4, 3]);
    assert.throws(
      () => loss.forward([a, a], soft, [a, a]),
      /'maps\[1\]' must be 1×4×4×C \(level 1 of a 2×2 attention map\)/,
    );
    assert.throws(
      () => loss.forward([a], soft, [b]),
      /'textures\[0\]' must have the shape of 'maps\[0\]'/,
    );
    assert.throws(() => loss.forward([a], a, [a]), /'soft_attention' must be N×h×w×1/);
    assertNoLeak(() => loss.forward([a, b], soft, [a, b]), 3);
    tf.dispose([soft, a, b]);
  });
});
