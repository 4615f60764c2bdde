/**
 * `genloss train` stopped by a signal, in real child processes: the first SIGINT/SIGTERM finishes
 * the step, writes a checkpoint and the report, says how to go on and exits 130/143; a second
 * one exits at once and leaves the files written before intact. A run stopped and resumed is bit
 * for bit the uninterrupted one.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import YAML from 'yaml';
import { runTraining } from '../../src/cli/train.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { useTestBackend } from '../helpers/backend.ts';

let backend = 'wasm';
before(async () => {
  backend = await useTestBackend();
});

const root = new URL('../../', import.meta.url).pathname;
const fixture = join(root, 'test/fixtures/tiny-train.yaml');
const tempDir = () => mkdtempSync(join(tmpdir(), 'genloss-signal-'));

interface Child {
  process: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves when stdout (or, with `stream` 'err', stderr) matches `pattern`. */
  waitFor(pattern: RegExp, stream?: 'out' | 'err'): Promise<void>;
  exit: Promise<number | null>;
}

/**
 * The fixture writing no samples and no checkpoints of its own within 400 steps: the run's only
 * turns of the event loop are between steps.
 */
function quietFixture(): string {
  const path = join(tempDir(), 'quiet.yaml');
  const cfg = YAML.parse(readFileSync(fixture, 'utf8'));
  cfg.train.sample_interval = 1000;
  cfg.train.checkpoint_interval = 1000;
  writeFileSync(path, YAML.stringify(cfg));
  return path;
}

/** `genloss train` in a child process (stdout is a pipe: a progress line per log interval). */
function trainInChild(dir: string, iters: number, config = fixture): Child {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'train',
      config,
      '--work-dir',
      dir,
      '--iters',
      String(iters),
      '--backend',
      backend,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const text = { out: '', err: '' };
  const waiters: { pattern: RegExp; stream: 'out' | 'err'; resolve: () => void }[] = [];
  const listen = (stream: 'out' | 'err') => (chunk: Buffer) => {
    text[stream] += chunk;
    for (const w of waiters.filter((w) => w.stream === stream && w.pattern.test(text[stream]))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout.on('data', listen('out'));
  child.stderr.on('data', listen('err'));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    process: child,
    out: () => text.out,
    err: () => text.err,
    waitFor: (pattern, stream = 'out') =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(text[stream])) return resolve();
        waiters.push({ pattern, stream, resolve });
        exit.then(() =>
          reject(
            new Error(`the child exited before printing ${pattern}:\n${text.out}\n${text.err}`),
          ),
        );
      }),
    exit,
  };
}

/** The tensors of a checkpoint file, by name, as raw bytes. */
function checkpointTensors(path: string): Record<string, string> {
  const file = parseSafetensors(readFileSync(path), path);
  return Object.fromEntries(
    file
      .names()
      .map((name) => [name, Buffer.from(file.tensor(name).dataSync().buffer).toString('hex')]),
  );
}

/** The step a stopped child reached, from its message. */
function stoppedAt(out: string): number {
  const m = /stopped by SIG\w+ at step (\d+)/.exec(out);
  assert.ok(m, `no stop message in:\n${out}`);
  return Number(m[1]);
}

describe('genloss train and signals (child processes)', () => {
  test('SIGINT finishes the step, checkpoints, writes the report, exits 130; resuming is bit for bit the uninterrupted run', async () => {
    const dir = tempDir();
    const config = quietFixture();
    const child = trainInChild(dir, 400, config);
    await child.waitFor(/step 4\/400/);
    child.process.kill('SIGINT');
    assert.equal(await child.exit, 130, child.err());
    assert.match(
      child.err(),
      /SIGINT: finishing this step, then writing a checkpoint and the report/,
    );
    const step = stoppedAt(child.out());
    assert.ok(step < 100, `stopped at step ${step}: the signal waited for file I/O`);
    assert.match(child.out(), /go on with: genloss train .* --resume/);
    for (const file of ['checkpoints/latest.ckpt', `checkpoints/iter_${step}.ckpt`, 'report.html'])
      assert.ok(existsSync(join(dir, file)), file);
    assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<td>SIGINT<\/td>/);

    const iters = step + 4;
    const resumed = await runTraining(config, {
      workDir: dir,
      backend,
      iters,
      resume: true,
      progress: false,
    });
    assert.equal(resumed.steps, 4);
    const straight = tempDir();
    await runTraining(config, { workDir: straight, backend, iters, progress: false });
    assert.equal(
      readFileSync(join(dir, 'scalars.json'), 'utf8'),
      readFileSync(join(straight, 'scalars.json'), 'utf8'),
      'every logged loss, to the last bit',
    );
    assert.deepEqual(
      checkpointTensors(join(dir, 'checkpoints', 'latest.ckpt')),
      checkpointTensors(join(straight, 'checkpoints', 'latest.ckpt')),
      'weights, optimizer state and buffers, to the last bit',
    );
    const report = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(report, new RegExp(`${iters} steps in [\\d.]+ s of training .* over 2 parts`));
  });

  test('SIGTERM does the same and exits 143', async () => {
    const dir = tempDir();
    const child = trainInChild(dir, 400);
    await child.waitFor(/step 2\/400/);
    child.process.kill('SIGTERM');
    assert.equal(await child.exit, 143, child.err());
    const step = stoppedAt(child.out());
    assert.ok(existsSync(join(dir, 'checkpoints', `iter_${step}.ckpt`)));
  });

  test('a second signal exits at once, and what was written before stays good', async () => {
    const dir = tempDir();
    const child = trainInChild(dir, 400);
    // The fixture checkpoints every 3 steps: iter_3 is written before step 4 is logged.
    await child.waitFor(/step 4\/400/);
    child.process.kill('SIGTERM');
    // The second signal once the first is handled. (The same signal within a second would be
    // taken for a copy of the first, which a terminal and npm both deliver.)
    await child.waitFor(/SIGTERM: finishing this step/, 'err');
    child.process.kill('SIGINT');
    assert.equal(await child.exit, 130, child.err());
    assert.match(child.err(), /SIGINT again: exiting now/);
    assert.equal(existsSync(join(dir, '.lock')), false, 'the lock went with the process');
    const resumed = await runTraining(fixture, {
      workDir: dir,
      backend,
      iters: 8,
      resume: true,
      progress: false,
    });
    assert.equal(resumed.totalSteps, 8);
  });

  test('Ctrl-C in a terminal (SIGINT to the process group, npm in it) stops the run once, cleanly', async () => {
    const dir = tempDir();
    const npm = spawn(
      'npm',
      [
        'run',
        '-s',
        'genloss',
        '--',
        'train',
        quietFixture(),
        '--work-dir',
        dir,
        '--iters',
        '400',
        '--backend',
        backend,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let out = '';
    let err = '';
    npm.stdout.on('data', (chunk) => {
      out += chunk;
    });
    npm.stderr.on('data', (chunk) => {
      err += chunk;
    });
    // npm itself dies of the signal; genloss, its child, writes to the same pipes until it is done.
    const closed = new Promise((resolve) => npm.stdout.on('close', resolve));
    while (!/step 3\/400/.test(out)) await new Promise((resolve) => setTimeout(resolve, 20));
    process.kill(-(npm.pid as number), 'SIGINT');
    await closed;
    assert.doesNotMatch(err, /again: exiting now/);
    const step = stoppedAt(out);
    assert.ok(existsSync(join(dir, 'checkpoints', `iter_${step}.ckpt`)));
    assert.ok(existsSync(join(dir, 'report.html')));
  });
});
