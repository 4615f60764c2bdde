/**
 * Rewrites the generated parts of docs/custom-loss.md: each `<!-- example: FILE -->` block gets the
 * file's code (imports of `../../src/index.ts` shown as `genloss`), and the section between
 * `<!-- losses:start -->` and `<!-- losses:end -->` gets `genloss list --markdown`. Run with
 * `npm run docs`; test/docs.test.ts fails when the guide is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderGuide } from './guide.ts';

const path = new URL('../docs/custom-loss.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = renderGuide(before);
writeFileSync(path, after);
console.log(before === after ? 'docs/custom-loss.md is up to date' : 'updated docs/custom-loss.md');
