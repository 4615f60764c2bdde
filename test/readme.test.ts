import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

test('the README example is examples/quickstart.ts, word for word', () => {
  const readme = read('../README.md');
  const block = /## Example\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has an Example code block');
  const example = read('../examples/quickstart.ts').replace("'../src/index.ts'", "'genloss'");
  assert.equal(block, example);
});

test('the README example runs as written', async () => {
  const logged: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => logged.push(args.join(' '));
  try {
    await import('../examples/quickstart.ts');
  } finally {
    console.log = log;
  }
  const printed = /^loss_charbonnier = (0\.\d{6}), \|grad\| = (0\.\d{6})$/.exec(logged.join('\n'));
  assert.ok(printed, logged.join('\n'));
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(tf.getBackend()));
  // MMagic's Charbonnier loss of the example's seeded inputs, in float64: with an all-ones mask
  // the masked mean is the plain mean of sqrt(d² + 1e-12), and its gradient d / sqrt(d² + 1e-12)
  // divided by the element count. Allowed: the 6-decimal print (5e-7) plus 4e-5 relative, twice
  // the float32 error of summing 6144 squares measured in wasm's tf.norm (cpu's is exact).
  const [pred, target] = [1, 2].map((seed) =>
    tf.tidy(() => tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', seed).dataSync()),
  );
  const d = Array.from(pred, (p, i) => p - target[i]);
  const n = d.length;
  const value = d.reduce((s, e) => s + Math.sqrt(e * e + 1e-12), 0) / n;
  const norm = Math.sqrt(d.reduce((s, e) => s + (e * e) / (e * e + 1e-12), 0)) / n;
  for (const [got, want] of [
    [printed[1], value],
    [printed[2], norm],
  ] as const) {
    assert.ok(
      Math.abs(Number(got) - want) <= 5e-7 + 4e-5 * want,
      `printed ${got}, formula ${want}`,
    );
  }
});

test("the README's loss table is true: registered names build, functions are exports", async () => {
  const genloss = await import('../src/index.ts');
  const readme = read('../README.md');
  const rows = /\| family +\| registered names[^\n]*\n\|[- |]+\n((?:\|[^\n]*\n)+)/.exec(
    readme,
  )?.[1];
  assert.ok(rows, 'README has the loss table');
  const registered: string[] = [];
  for (const row of rows.trim().split('\n')) {
    const [, , names, functions] = row.split('|');
    const outside = (cell: string) => cell.replace(/\([^)]*\)/g, '');
    registered.push(...[...outside(names).matchAll(/`(\w+)`/g)].map((m) => m[1]));
    for (const [, name] of outside(functions).matchAll(/`(\w+)`/g)) {
      assert.ok(name in genloss, `'${name}' in the functions column is exported by genloss`);
    }
  }
  const unknown = registered.filter((name) => !genloss.LOSSES.has(name));
  assert.deepEqual(unknown, [], 'every name in the registered column builds with LOSSES.build');
});
