/**
 * The published package: `require('genloss')` works from CommonJS (Node ≥ 20.19 loads an ES
 * module without top-level await through `require`), and importing does not wait for a backend.
 * It runs the built `dist/` through the package's own `exports` (a package can import itself by
 * name), rebuilding `dist/` first when a source file is newer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestSource(dir: string): number {
  return Math.max(
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newestSource(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );
}

before(() => {
  const built = join(root, 'dist', 'index.js');
  if (!existsSync(built) || statSync(built).mtimeMs < newestSource(join(root, 'src'))) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'ignore' });
  }
});

const run = (code: string, type: 'commonjs' | 'module', backend: string) =>
  execFileSync(process.execPath, ['--input-type', type, '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, GENLOSS_BACKEND: backend },
  }).trim();

test("require('genloss') and require('genloss/node') load the ES module from CommonJS", () => {
  const out = run(
    `const g = require('genloss');
     const n = require('genloss/node');
     g.ready().then((backend) => {
       const loss = g.LOSSES.build({ type: 'L1Loss' });
       const tf = require('@tensorflow/tfjs');
       const v = loss.forward(tf.ones([1, 2, 2, 1]), tf.zeros([1, 2, 2, 1])).dataSync()[0];
       console.log(backend, v, typeof n.loadConfigFile);
     });`,
    'commonjs',
    'cpu',
  );
  assert.equal(out, 'cpu 1 function');
});

test('import returns before the backend is ready; await ready() then computes', () => {
  const out = run(
    `import * as tf from '@tensorflow/tfjs';
     import { ready } from 'genloss';
     let before = 'ran';
     try { tf.zeros([1]); } catch (e) { before = /await tf.ready()/.test(e.message) ? 'not ready' : e.message; }
     await ready();
     console.log(before, tf.getBackend(), tf.zeros([2]).size);`,
    'module',
    'wasm',
  );
  assert.equal(out, 'not ready wasm 2');
});
