import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { before, test } from 'node:test';
import { checkConfig } from '../../src/cli/train.ts';
import { chooseBackend } from '../../src/index.ts';

// The shipped configs run as a user runs them: on the default backend (wasm on Node), which trains
// these 32×32 convnets in seconds where the reference cpu backend takes minutes.
let backend = 'wasm';
before(async () => {
  backend = await chooseBackend();
});

const shipped = [
  ...readdirSync(new URL('../../configs/', import.meta.url))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `configs/${f}`),
  'examples/custom-loss/custom-gan.yaml',
];

for (const file of shipped) {
  test(`${file} builds and trains one step`, async () => {
    const log = await checkConfig(new URL(`../../${file}`, import.meta.url).pathname, backend);
    assert.ok(Number.isFinite(log.loss), `${file}: loss ${log.loss}`);
  });
}
