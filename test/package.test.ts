/**
 * The published package: `require('genloss')` works from CommonJS (Node ≥ 20.19 loads an ES
 * module without top-level await through `require`), importing does not wait for a backend, the
 * configs and examples ship, and the CLI imports a user's TypeScript loss module that imports
 * `'genloss'`, from `dist/` with plain Node (`npx genloss`) and from `src/` under tsx (`npm run
 * genloss`) alike. It runs the built `dist/` through the package's own `exports` (a package can
 * import itself by name), rebuilding `dist/` first when a source file is newer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
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

/** The files `npm pack` puts in the package, as paths relative to the package root. */
function packedFiles(): Set<string> {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Set((JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path));
}

test('the package ships configs/, the examples the docs name, and what those examples import', () => {
  const packed = packedFiles();
  const configs = readdirSync(join(root, 'configs')).map((name) => `configs/${name}`);
  const docs = ['README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)];
  const named = new Set(
    docs.flatMap((doc) =>
      [
        ...readFileSync(join(root, doc), 'utf8').matchAll(/\bexamples\/[\w./-]+\.(?:ts|yaml)\b/g),
      ].map((m) => m[0]),
    ),
  );
  assert.ok(configs.length > 0 && named.size > 0);
  for (const file of [...configs, ...named]) assert.ok(packed.has(file), `${file} is not packed`);
  // An example imports genloss's sources (`../src/index.ts`) or a sibling: each must ship too.
  for (const file of named) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const [, spec] of text.matchAll(
      /(?:from |import |custom_imports: \[)['"](\.\.?\/[^'"]+)['"]/g,
    )) {
      const target = relative(root, resolve(dirname(join(root, file)), spec))
        .split(sep)
        .join('/');
      assert.ok(packed.has(target), `${file} imports ${spec}, which is not packed`);
    }
  }
});

/** A project folder that depends on this package, as `npm install genloss` leaves one. */
function userProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-user-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'genloss'));
  symlinkSync(join(root, 'node_modules', '@tensorflow'), join(dir, 'node_modules', '@tensorflow'));
  writeFileSync(
    join(dir, 'user-loss.ts'),
    `import * as tf from '@tensorflow/tfjs';
import { componentOptions, LOSSES, LossComponent } from 'genloss';

const options = componentOptions({ loss_name: 'loss_user' }, {});

class UserLoss extends LossComponent<typeof options> {
  static override readonly lossType = 'UserLoss';
  static override readonly options = options;
  static override readonly argNames = ['x'];

  protected compute({ x }: Record<string, unknown>): tf.Tensor {
    return tf.mean(tf.square(x as tf.Tensor));
  }
}

LOSSES.register(UserLoss);
`,
  );
  return dir;
}

const listed = (out: string) => out.split('\n').filter((line) => /^\w+$/.test(line));

test("npx genloss (dist/, plain node) lists a loss a TypeScript module registers through 'genloss'", () => {
  const dir = userProject();
  const out = execFileSync(
    process.execPath,
    [join(root, 'dist', 'cli', 'main.js'), 'list', '--import', './user-loss.ts'],
    { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  assert.ok(listed(out).includes('UserLoss'), out);
  assert.ok(listed(out).includes('L1Loss'));
});

test("npm run genloss (src/, under tsx) lists and trains with a loss registered into the built 'genloss'", () => {
  const dir = userProject();
  writeFileSync(
    join(dir, 'user.yaml'),
    `custom_imports: [./user-loss.ts]
model:
  generator: { type: DCGANGenerator, noise_size: 8, out_size: 8, base_channels: 8, seed: 1 }
  discriminator: { type: DCGANDiscriminator, in_size: 8, base_channels: 4, seed: 2 }
  gan_loss: { type: GANLossComps, gan_type: hinge }
  disc_auxiliary_loss: [{ type: UserLoss, data_info: { x: disc_pred_real } }]
  optimizers:
    generator: { type: Adam, lr: 0.001 }
    discriminator: { type: Adam, lr: 0.001 }
data: { type: shapes, num_images: 8, size: 8 }
train: { iters: 1, batch_size: 4 }
`,
  );
  const genloss = (...args: string[]) =>
    execFileSync(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(root, 'src', 'cli', 'main.ts'), ...args],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  const out = genloss('list', '--import', './user-loss.ts');
  const names = listed(out);
  assert.ok(names.includes('UserLoss'), out);
  assert.equal(new Set(names).size, names.length, 'each built-in once');
  // The model (src/) takes the user's class, which extends dist's LossComponent, as a component.
  assert.match(genloss('check', 'user.yaml', '--backend', 'cpu'), /OK, one step: .*"loss_user":/);
});
