import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from 'esbuild';

test("the 'genloss' entry point bundles for a browser (no Node built-ins)", async () => {
  const result = await build({
    entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  assert.equal(result.errors.length, 0);
  const code = result.outputFiles[0].text;
  assert.doesNotMatch(code, /from\s*["']node:/, 'no node: imports');
  assert.ok(code.length > 1e6, 'TF.js is bundled');
});
