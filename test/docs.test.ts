import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { exampleAsShown, renderGuide } from '../scripts/guide.ts';

const guide = readFileSync(new URL('../docs/custom-loss.md', import.meta.url), 'utf8');

test('docs/custom-loss.md is up to date with its examples and the registry (npm run docs)', () => {
  assert.equal(renderGuide(guide), guide);
});

test('every code block of the guide is an example file the suite runs', () => {
  const blocks = [...guide.matchAll(/```(ts|yaml)\n/g)].length;
  const examples = [...guide.matchAll(/<!-- example: (\S+) -->/g)].map((m) => m[1]);
  assert.equal(examples.length, blocks);
  for (const file of examples) assert.ok(exampleAsShown(file).length > 0, file);
});

test('the loss tables list every built-in loss and component', () => {
  for (const name of ['L1Loss', 'GANLossComps', 'PerceptualLoss', 'R1GradientPenaltyComps']) {
    assert.match(guide, new RegExp(`\\| \`${name}\` \\|`));
  }
});
