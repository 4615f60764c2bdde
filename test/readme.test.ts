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
  assert.match(logged.join('\n'), /^loss_charbonnier = 0\.\d{6}, \|grad\| = 0\.\d{6}$/);
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(tf.getBackend()));
});
