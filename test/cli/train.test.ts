import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { main } from '../../src/cli/main.ts';
import { checkConfig, runTraining } from '../../src/cli/train.ts';
import { openRunDir } from '../../src/node/run-dir.ts';
import { CheckpointError } from '../../src/node.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { assertLogVars } from '../helpers/tensors.ts';

let backend = 'cpu';
before(async () => {
  backend = await useTestBackend();
});

const fixture = new URL('../fixtures/tiny-train.yaml', import.meta.url).pathname;

/** The sections of the fixture the tests edit. */
interface FixtureConfig {
  model: { generator: Record<string, unknown> };
  data: Record<string, unknown>;
  train: Record<string, unknown>;
}
const tempDir = () => mkdtempSync(join(tmpdir(), 'genloss-train-'));
const quiet = { progress: false };

/**
 * What test/fixtures/tiny-train.yaml logs at its first step (`genloss check`) and at its fifth:
 * everything in it is seeded, so these are the numbers those steps give, printed once on wasm and
 * equal on cpu within 1e-6 relative. They change, and must be reprinted, when the fixture, the
 * DCGAN architecture, the shapes data set, the seeding or a loss changes. The tolerance, 1e-5
 * relative, is ten times the measured cpu/wasm spread.
 */
const PINNED = {
  firstStep: {
    loss: 3.050549268722534,
    loss_disc_fake: 1.1258738040924072,
    loss_disc_real: 1.884873628616333,
    loss_r1_gp: 0.03874674811959267,
    loss_disc_shift: 0.0010550279403105378,
    loss_disc_fake_g: 0.09517577290534973,
    loss_path_regular: 0.6382483243942261,
  },
  fifthStep: {
    loss: 2.9455080032348633,
    loss_disc_fake: 1.163419246673584,
    loss_disc_real: 1.745697259902954,
    loss_r1_gp: 0.03573315218091011,
    loss_disc_shift: 0.0006583379581570625,
    loss_disc_fake_g: -0.03895039111375809,
  },
};

/**
 * Runs the CLI, capturing stdout/stderr and the exit code. Only text is captured: the test
 * runner's own reports, which reach stdout as bytes while the CLI awaits, pass through (captured,
 * a report of the previous test would be lost, a failure included).
 */
async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  const capture = (stream: NodeJS.WriteStream, original: typeof stream.write, into: string[]) =>
    ((chunk: string | Uint8Array, ...rest: never[]) =>
      typeof chunk === 'string'
        ? into.push(chunk) > 0
        : original.call(stream, chunk, ...rest)) as typeof stream.write;
  process.stdout.write = capture(process.stdout, write.out, out);
  process.stderr.write = capture(process.stderr, write.err, err);
  process.exitCode = 0;
  try {
    await main(['node', 'genloss', ...args]);
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: out.join(''), err: err.join(''), code };
}

describe('genloss train', () => {
  test('a 5-step run writes sample PNGs, the loss plot, checkpoints and the report', async () => {
    const dir = tempDir();
    const { out, code } = await cli('train', fixture, '--work-dir', dir, '--backend', backend);
    assert.equal(code, 0);
    assert.match(out, /step 5\/5 \| [\d.]+ it\/s \| ETA 0 s \| loss /);
    const progress = out.split('\n').filter((line) => line.startsWith('step '));
    assert.equal(progress.length, 5);
    for (const line of progress) assert.ok(line.length <= 80, line);
    assert.match(
      out,
      new RegExp(
        `genloss train: 5 steps \\(1–5\\) in \\d+ s, [\\d.]+ it/s \\| loss [\\d.]+ loss_disc_fake .* \\| report ${dir}/report\\.html`,
      ),
    );
    assert.deepEqual(readdirSync(join(dir, 'samples')), [
      'real.png',
      'step_000000.png',
      'step_000002.png',
      'step_000004.png',
      'step_000005.png',
    ]);
    const png = readFileSync(join(dir, 'samples', 'step_000005.png'));
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    const svg = readFileSync(join(dir, 'losses.svg'), 'utf8');
    for (const key of ['loss_disc_fake', 'loss_r1_gp', 'loss_path_regular'])
      assert.ok(svg.includes(`>${key}<`), key);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(html, /<img src="samples\/step_000005\.png"/);
    assert.match(html, /<img src="samples\/real\.png"/);
    assert.match(html, /gan_type: hinge/);
    assert.match(
      html,
      new RegExp(
        `genloss \\d+\\.\\d+\\.\\d+, TF\\.js ${tf.version['tfjs-core']}, backend ${backend}`,
      ),
    );
    for (const phase of ['D step', 'regularisers', 'G step', 'sampling', 'metrics', 'I/O'])
      assert.match(html, new RegExp(`<tr><td>${phase}</td><td>[\\d.]+ s</td>`), phase);
    assert.match(html, /<tr><td>model\.skip_nonfinite<\/td><td>\(default\)<\/td><td>false<\/td>/);
    assert.ok(!html.includes('metrics.svg'), 'no metric, no metric plot');
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), [
      'iter_0.ckpt',
      'iter_3.ckpt',
      'iter_5.ckpt',
      'latest.ckpt',
    ]);
  });

  test('checkpoint then --resume gives the same losses as an uninterrupted run', async () => {
    const whole = await runTraining(fixture, { ...quiet, workDir: tempDir(), backend, iters: 5 });
    assertLogVars(whole.last, PINNED.fifthStep, 1e-5, 'uninterrupted run, step 5');
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 3 });
    const resumed = await runTraining(fixture, {
      ...quiet,
      workDir: dir,
      backend,
      iters: 5,
      resume: true,
    });
    assert.equal(resumed.steps, 2);
    // Bit for bit: the checkpoint holds Adam's running β powers, which TF.js's setWeights would
    // recompute as pow(β, t + 1) (different last bits).
    assert.deepEqual(resumed.last, whole.last);
    assert.equal(
      readFileSync(join(dir, 'scalars.json'), 'utf8'),
      readFileSync(join(whole.workDir, 'scalars.json'), 'utf8'),
    );
    assert.match(readFileSync(resumed.reportPath, 'utf8'), /5 steps in [\d.]+ s of training/);
  });

  test('a corrupt checkpoint is a clear error and the good one is kept', async () => {
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 3 });
    const latest = join(dir, 'checkpoints', 'latest.ckpt');
    const good = readFileSync(latest);
    const bad = join(dir, 'bad.ckpt');
    writeFileSync(bad, good.subarray(0, good.length - 100));
    await assert.rejects(
      runTraining(fixture, { ...quiet, workDir: dir, backend, resume: bad }),
      (e: Error) =>
        e instanceof CheckpointError &&
        e.message.startsWith(`${bad}: not a valid safetensors file`),
    );
    assert.deepEqual(readFileSync(latest), good, 'the good checkpoint is untouched');
    assert.equal(existsSync(`${latest}.tmp-${process.pid}`), false, 'no temporary file is left');
  });

  test('a checkpoint from another config is refused', async () => {
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 3 });
    const other = join(dir, 'other.yaml');
    const cfg = YAML.parse(readFileSync(fixture, 'utf8'));
    cfg.model.discriminator.base_channels = 8;
    writeFileSync(other, YAML.stringify(cfg));
    await assert.rejects(
      runTraining(other, { ...quiet, workDir: dir, backend, resume: true }),
      (e: Error) =>
        e instanceof CheckpointError &&
        /the checkpoint was made with a different config/.test(e.message),
    );
  });

  test('a new run where one exists is refused (exit 6, nothing changed); --force starts over', async () => {
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 3 });
    const latest = readFileSync(join(dir, 'checkpoints', 'latest.ckpt'));
    const { err, code } = await cli('train', fixture, '--work-dir', dir, '--backend', backend);
    assert.equal(code, 6);
    assert.match(err, /^genloss: RunDirError: .*holds a run/);
    for (const way of ['--resume', '--force', '--work-dir']) assert.ok(err.includes(way), way);
    assert.deepEqual(readFileSync(join(dir, 'checkpoints', 'latest.ckpt')), latest);
    const forced = await runTraining(fixture, {
      ...quiet,
      workDir: dir,
      backend,
      iters: 2,
      force: true,
    });
    assert.equal(forced.totalSteps, 2);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), [
      'iter_0.ckpt',
      'iter_2.ckpt',
      'latest.ckpt',
    ]);
    assert.deepEqual(readdirSync(join(dir, 'samples')), [
      'real.png',
      'step_000000.png',
      'step_000002.png',
    ]);
  });

  test('a second process on a locked work dir is refused with exit 6', async () => {
    const dir = tempDir();
    const held = await openRunDir(dir, 'new', { log: () => {} });
    try {
      const { err, code } = await cli('train', fixture, '--work-dir', dir, '--backend', backend);
      assert.equal(code, 6);
      assert.match(err, new RegExp(`RunDirError: .*${process.pid}`));
    } finally {
      held.release();
    }
  });

  test('the report covers the whole run over resumes; resuming a finished run keeps it whole', async () => {
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 2 });
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 5, resume: true });
    const report = () => readFileSync(join(dir, 'report.html'), 'utf8');
    const whole = report();
    assert.match(whole, /5 steps in [\d.]+ s of training \([\d.]+ steps\/s\) over 2 parts/);
    // Each part's phase times are in the checkpoint's run record; the report adds them up.
    const ckpt = readFileSync(join(dir, 'checkpoints', 'latest.ckpt'));
    const header = JSON.parse(ckpt.subarray(8, 8 + Number(ckpt.readBigUInt64LE(0))).toString());
    const parts: { phase_seconds: Record<string, number> }[] = JSON.parse(
      header.__metadata__.run,
    ).parts;
    assert.equal(parts.length, 2);
    assert.ok(parts.every((p) => p.phase_seconds['D step'] > 0));
    const dStep = parts.reduce((sum, p) => sum + p.phase_seconds['D step'], 0);
    assert.match(whole, new RegExp(`<tr><td>D step</td><td>${dStep.toFixed(2)} s</td>`));
    assert.match(whole, /<td>1<\/td><td>[^<]+<\/td><td>0 → 2<\/td>/);
    assert.match(whole, /<td>2<\/td><td>[^<]+<\/td><td>2 → 5<\/td>/);
    for (const step of ['000000', '000002', '000004', '000005'])
      assert.ok(whole.includes(`samples/step_${step}.png`), step);
    const again = await runTraining(fixture, {
      ...quiet,
      workDir: dir,
      backend,
      iters: 5,
      resume: true,
    });
    assert.equal(again.steps, 0);
    assert.equal(report(), whole, 'nothing trained, nothing changed');
  });

  test('scalars.json holds one line per logged step; a checkpoint stays the size of its state', async () => {
    const headerBytes = (path: string) => Number(readFileSync(path).readBigUInt64LE(0));
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 3 });
    const short = headerBytes(join(dir, 'checkpoints', 'latest.ckpt'));
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 60, resume: true });
    const rows = readFileSync(join(dir, 'scalars.json'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rows.map((r) => r.step),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    assert.ok(rows.every((r) => 'loss_disc_fake' in r));
    assert.ok(rows.some((r) => 'loss_r1_gp' in r) && rows.some((r) => !('loss_r1_gp' in r)));
    const long = headerBytes(join(dir, 'checkpoints', 'latest.ckpt'));
    // One more run part (about 150 bytes) and longer numbers; no per-step history.
    assert.ok(long - short < 400, `header grew from ${short} to ${long} bytes over 57 steps`);
  });

  test('resuming from an earlier checkpoint replaces the later branch: log, samples, checkpoints', async () => {
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 8 });
    const rows = () => readFileSync(join(dir, 'scalars.json'), 'utf8').trim().split('\n');
    const eight = rows();
    await runTraining(fixture, {
      ...quiet,
      workDir: dir,
      backend,
      iters: 4,
      resume: join(dir, 'checkpoints', 'iter_3.ckpt'),
    });
    assert.deepEqual(rows(), eight.slice(0, 4), 'steps 1–4, the same values');
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), [
      'iter_0.ckpt',
      'iter_3.ckpt',
      'iter_4.ckpt',
      'latest.ckpt',
    ]);
    assert.deepEqual(readdirSync(join(dir, 'samples')), [
      'real.png',
      'step_000000.png',
      'step_000002.png',
      'step_000004.png',
    ]);
  });

  test("another work dir's checkpoint resumes only into a new work dir; a foreign log is refused", async () => {
    const first = tempDir();
    await runTraining(fixture, { ...quiet, workDir: first, backend, iters: 6 });
    const other = tempDir();
    await runTraining(fixture, { ...quiet, workDir: other, backend, iters: 2 });
    const foreign = join(first, 'checkpoints', 'iter_3.ckpt');
    const { err, code } = await cli(
      'train',
      fixture,
      '--work-dir',
      other,
      '--resume',
      foreign,
      '--backend',
      backend,
    );
    assert.equal(code, 6);
    assert.match(
      err,
      /holds a run of its own; a checkpoint of another work dir .* --work-dir <new dir>/,
    );
    const fresh = tempDir();
    const moved = await runTraining(fixture, {
      ...quiet,
      workDir: fresh,
      backend,
      iters: 6,
      resume: foreign,
    });
    assert.equal(moved.steps, 3);
    const tail = (d: string) =>
      readFileSync(join(d, 'scalars.json'), 'utf8').trim().split('\n').slice(-3);
    assert.deepEqual(tail(fresh), tail(first), 'the same steps 4–6, bit for bit');
    // A log that is not the checkpoint's: cut at its byte count, no whole row ends there.
    writeFileSync(join(first, 'scalars.json'), '{"step":1,"loss":1}\n'.repeat(40));
    const torn = await cli('train', fixture, '--work-dir', first, '--resume', '--backend', backend);
    assert.equal(torn.code, 6);
    assert.match(
      torn.err,
      /scalars\.json: .*it is not the log of the run this checkpoint belongs to/,
    );
  });

  test('a scalar log with a line that is not a row is refused, naming the line', async () => {
    const dir = tempDir();
    await runTraining(fixture, { ...quiet, workDir: dir, backend, iters: 3 });
    const path = join(dir, 'scalars.json');
    // Line 1 replaced by a JSON value of the same length that is no row (the cut stays whole).
    const [line, ...rest] = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, [`"${'x'.repeat(line.length - 2)}"`, ...rest].join('\n'));
    const { err, code } = await cli(
      'train',
      fixture,
      '--work-dir',
      dir,
      '--resume',
      '--iters',
      '5',
      '--backend',
      backend,
    );
    assert.equal(code, 6, err);
    assert.match(err, /scalars\.json: line 1 is not a row of genloss's scalar log/);
  });

  test('resuming without a checkpoint is a CheckpointError (exit 5) that says what to do', async () => {
    const dir = tempDir();
    const { err, code } = await cli(
      'train',
      fixture,
      '--work-dir',
      dir,
      '--resume',
      '--backend',
      backend,
    );
    assert.equal(code, 5);
    assert.match(
      err,
      /CheckpointError: .*latest\.ckpt: no checkpoint to resume from; start a new run without --resume/,
    );
  });

  test('metrics: evaluated at each sample step, logged, plotted with the SWD floor, summed up', async () => {
    const evaluate = Trainer.prototype.evaluate;
    Trainer.prototype.evaluate = async function (this: Trainer) {
      return { 'metric/swd': 1 / (this.step + 1), 'metric/swd_floor': 0.05 };
    };
    try {
      const dir = tempDir();
      const { out, code } = await cli('train', fixture, '--work-dir', dir, '--backend', backend);
      assert.equal(code, 0);
      const rows = readFileSync(join(dir, 'scalars.json'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        rows.filter((r) => 'metric/swd' in r).map((r) => r.step),
        [0, 2, 4, 5],
        'at every sample grid',
      );
      const svg = readFileSync(join(dir, 'metrics.svg'), 'utf8');
      assert.ok(svg.includes('>real-vs-real floor<') && svg.includes('>step<'));
      assert.ok(!readFileSync(join(dir, 'losses.svg'), 'utf8').includes('metric/'));
      const html = readFileSync(join(dir, 'report.html'), 'utf8');
      assert.match(html, /<img src="metrics\.svg"/);
      assert.match(
        html,
        /<td>metric\/swd<\/td><td>1\.0000 \(step 0\)<\/td><td>0\.16667 \(step 5\)/,
      );
      assert.match(out, /\| loss .* metric\/swd 0\.1667 metric\/swd_floor 0\.0500 \| report /);
    } finally {
      Trainer.prototype.evaluate = evaluate;
    }
  });

  test('no tensors leak across a run', async () => {
    const before = tf.memory().numTensors;
    await runTraining(fixture, { ...quiet, workDir: tempDir(), backend, iters: 2 });
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('genloss check and list', () => {
  test('check runs one step of a good config', async () => {
    assertLogVars(await checkConfig(fixture, backend), PINNED.firstStep, 1e-5, 'check');
    const { out, code } = await cli('check', fixture, '--backend', backend);
    assert.equal(code, 0);
    assert.match(out, /tiny-train\.yaml: OK, one step: \{"loss":/);
  });

  test('check rejects a bad config, naming the loss, the key and the expectation', async () => {
    const path = join(tempDir(), 'bad.yaml');
    const cfg = YAML.parse(readFileSync(fixture, 'utf8'));
    cfg.model.disc_auxiliary_loss[0].norm_mode = 'channel';
    writeFileSync(path, YAML.stringify(cfg));
    const { err, code } = await cli('check', path, '--backend', backend);
    assert.equal(code, 3);
    assert.equal(
      err,
      "genloss: ConfigError: R1GradientPenaltyComps: option 'norm_mode' must be one of 'pixel'|'HWC', got 'channel'\n",
    );
  });

  test('check and train refuse sizes that cannot fit the same way, naming the key (exit 3)', async () => {
    const dir = tempDir();
    const variant = (name: string, edit: (cfg: FixtureConfig) => void) => {
      const cfg: FixtureConfig = YAML.parse(readFileSync(fixture, 'utf8'));
      edit(cfg);
      const path = join(dir, `${name}.yaml`);
      writeFileSync(path, YAML.stringify(cfg));
      return path;
    };
    const cases = [
      [
        variant('batch', (c) => {
          c.train.batch_size = 1e9;
        }),
        /ResourceLimitError: train\.batch_size \(1000000000\): one training step needs about [\d.]+ TiB .* over the memory limit of/,
      ],
      [
        variant('samples', (c) => {
          c.train.num_samples = 1e7;
        }),
        /ResourceLimitError: train\.num_samples/,
      ],
      [
        variant('images', (c) => {
          c.data.num_images = 1e9;
        }),
        /ResourceLimitError: data\.num_images/,
      ],
      [
        variant('sizes', (c) => {
          c.model.generator.out_size = 16;
        }),
        /ConfigError: model\.generator\.out_size \(16\) gives 16×16×3 images, but data\.size \(8\)/,
      ],
    ] as const;
    for (const [config, message] of cases) {
      const check = await cli('check', config, '--backend', backend);
      const train = await cli(
        'train',
        config,
        '--work-dir',
        join(dir, 'run'),
        '--backend',
        backend,
      );
      for (const r of [check, train]) {
        assert.equal(r.code, 3, r.err);
        assert.match(r.err, message);
      }
      assert.equal(check.err, train.err, 'check stops where train stops');
    }
  });

  test('list imports nothing from configs: a config argument is refused, its imports never run', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran');
    writeFileSync(
      join(dir, 'mark.mjs'),
      `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, '');\n`,
    );
    const config = join(dir, 'c.yaml');
    writeFileSync(config, 'custom_imports: ["./mark.mjs"]\n');
    const { code } = await cli('list', config);
    assert.equal(code, 2);
    assert.equal(existsSync(marker), false);
  });

  test('list shows every loss with its options and defaults', async () => {
    const { out } = await cli('list');
    assert.match(
      out,
      /^L1Loss\n {2}loss_weight: number, default 1\n {2}loss_name: string, default "loss_l1"\n {2}reduction: string \("none"\|"mean"\|"sum"\), default "mean"/m,
    );
    const json = JSON.parse((await cli('list', '--json')).out);
    assert.ok(json.some((e: { name: string }) => e.name === 'GANLossComps'));
  });
});
