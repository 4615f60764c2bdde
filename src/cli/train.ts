import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import cliProgress from 'cli-progress';
import { chooseBackend } from '../core/backend.ts';
import { CheckpointError, RunDirError } from '../core/errors.ts';
import type { LogVars } from '../models/gan-with-customized-loss.ts';
import { loadCheckpoint, saveCheckpoint } from '../node/checkpoint-file.ts';
import { imageFolderDataset, imageGridPng } from '../node/images.ts';
import { loadLossWeights } from '../node/loss-weights.ts';
import { openRunDir, type RunDir } from '../node/run-dir.ts';
import { removeRunFiles, ScalarLog, writeFileAtomic } from '../node/run-files.ts';
import { loadTrainConfig } from '../node/train-config.ts';
import { configDigest } from '../train/checkpoint.ts';
import type { TrainConfig } from '../train/config.ts';
import { type ArrayDataset, shapesDataset } from '../train/datasets.ts';
import { checkDataSize, memoryLimitFor } from '../train/limits.ts';
import { PhaseTimer } from '../train/phase-timer.ts';
import { Trainer } from '../train/trainer.ts';
import { catchStopSignals, type StopSignal } from './interrupt.ts';
import { lossPlotSvg, metricPlotSvg } from './plot.ts';
import { dropForeignErrorHandlers } from './process-errors.ts';
import { reportHtml } from './report.ts';
import { parseRunRecord, type RunPart, type RunRecord } from './run-record.ts';

/** Options of `genloss train`. */
export interface TrainOptions {
  /** Where samples, plots, checkpoints and the report go. Default `work_dirs/<config name>`. */
  workDir?: string;
  /** Resume from this checkpoint (`true`: the work dir's `checkpoints/latest.ckpt`). */
  resume?: string | boolean;
  /** Delete the run in the work dir, if any, and start a new one. */
  force?: boolean;
  /** Overrides `train.iters`. */
  iters?: number;
  /** Overrides the config's backend. */
  backend?: string;
  /** Progress output: a bar on a terminal, a line per `log_interval` otherwise; `false` prints nothing. */
  progress?: boolean;
  /** The memory a run may plan to use (default 60% of this machine's, at most 4 GiB on wasm; see `memoryLimitFor`). */
  memoryLimitBytes?: number;
}

/** What a finished (or interrupted) run reports. */
export interface TrainResult {
  workDir: string;
  /** Steps this invocation ran. */
  steps: number;
  /** The run's step count now, over every resume. */
  totalSteps: number;
  wallSeconds: number;
  /** `log_vars` of this invocation's first and last steps (empty when it ran none). */
  first: LogVars;
  last: LogVars;
  reportPath: string;
  /** The signal that stopped the run early, or null when it ran to `iters`. */
  interrupted: StopSignal | null;
}

/** The dataset a config names; folder paths are relative to the config file. */
async function datasetFor(
  cfg: TrainConfig,
  configPath: string,
  maxBytes: number,
): Promise<ArrayDataset> {
  const d = cfg.data;
  checkDataSize(d, maxBytes);
  if (d.type === 'shapes') return shapesDataset(d.num_images, d.size, d.seed);
  return imageFolderDataset(resolve(dirname(configPath), d.path), d.size, {
    maxPixels: d.max_pixels,
    skipBadFiles: d.skip_bad_files,
    maxBytes,
  });
}

/** A trainer built as `train` and `check` build it. */
interface Prepared {
  raw: unknown;
  cfg: TrainConfig;
  backend: string;
  dataset: ArrayDataset;
  trainer: Trainer;
}

/**
 * What `train` and `check` both do before the first step: read and validate the config (its
 * `custom_imports` after the checks that need none), start the backend, check the data and the
 * step against the memory limit, load the data, build the trainer and load its losses' network
 * weights from the paths in the config (`loadLossWeights`).
 */
async function prepare(
  configPath: string,
  options: Pick<TrainOptions, 'backend' | 'memoryLimitBytes'>,
  beforeData: () => Promise<void> = async () => {},
): Promise<Prepared> {
  const { raw, cfg } = await loadTrainConfig(configPath);
  const backend = await chooseBackend(options.backend ?? cfg.backend);
  dropForeignErrorHandlers();
  await beforeData();
  const limit = options.memoryLimitBytes ?? memoryLimitFor(totalmem(), backend);
  const dataset = await datasetFor(cfg, configPath, limit);
  const trainer = new Trainer(raw, dataset, { memoryLimitBytes: limit });
  try {
    await loadLossWeights(trainer.lossModules(), { config: raw, configDir: dirname(configPath) });
  } catch (error) {
    trainer.dispose();
    throw error;
  }
  return { raw, cfg, backend, dataset, trainer };
}

const fmt = (v: number) =>
  Math.abs(v) >= 100 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4);

/**
 * A progress line that fits `columns`: the `head` segments joined by ` | `, then as many of the
 * `entries` (`loss_disc_fake 1.1259`) as fit, in their order, and `+N more` for those left out.
 * Whole entries are dropped, never cut; when not even the head and `+N more` fit, head segments
 * are dropped from the end (the first one stays, whatever its length).
 */
export function fitProgressLine(
  head: readonly string[],
  entries: readonly string[],
  columns: number,
): string {
  const n = entries.length;
  for (let h = head.length; h >= 1; h--) {
    for (let k = n; k >= 0; k--) {
      const tail = [...entries.slice(0, k), ...(k < n ? [`+${n - k} more`] : [])];
      const line = [...head.slice(0, h), ...(tail.length ? [tail.join(' ')] : [])].join(' | ');
      if (line.length <= columns) return line;
    }
  }
  return head[0] ?? '';
}

/** A duration for people: `45 s`, `14 min 5 s`, `2 h 3 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The steps or seconds after which {@link longRunWarning} has a speed to go by. */
export const LONG_RUN_EVIDENCE = { steps: 5, seconds: 3 };

/**
 * The warning `genloss train` prints once, when it has run {@link LONG_RUN_EVIDENCE} steps or
 * seconds, if the `left` steps will take longer than `limitSeconds` (default 5 minutes) at the
 * speed of `done` steps in `seconds`: the estimate and how to stop and go on. Null otherwise.
 */
export function longRunWarning(
  done: number,
  seconds: number,
  left: number,
  limitSeconds = 300,
): string | null {
  const speed = done / seconds;
  const eta = left / speed;
  if (eta <= limitSeconds) return null;
  return `genloss train: estimated ${formatDuration(eta)} for ${left} more steps at ${speed.toFixed(2)} it/s (Ctrl-C stops with a checkpoint; --resume goes on)`;
}

/** genloss's version, from its package.json (two folders up from `src/cli/` and `dist/cli/`). */
function genlossVersion(): string {
  const path = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

/** The sums of the log interval in progress: per key, the sum of finite values and their count. */
type Window = RunRecord['window'];

function addToWindow(window: Window, log: LogVars): void {
  for (const [k, v] of Object.entries(log)) {
    if (!Number.isFinite(v)) continue;
    const [sum, count] = window.sums[k] ?? [0, 0];
    window.sums[k] = [sum + v, count + 1];
  }
}

const windowMeans = (window: Window): Record<string, number> =>
  Object.fromEntries(Object.entries(window.sums).map(([k, [s, n]]) => [k, s / n]));

const SAMPLE_FILE = /^step_(\d+)\.png$/;

/** The run's sample grids on disk, oldest first, as paths relative to the work dir. */
async function sampleGrids(workDir: string): Promise<{ step: number; file: string }[]> {
  const names = await readdir(join(workDir, 'samples')).catch(() => [] as string[]);
  return names
    .map((name) => ({ name, m: SAMPLE_FILE.exec(name) }))
    .filter(({ m }) => m !== null)
    .map(({ name, m }) => ({ step: Number(m?.[1]), file: `samples/${name}` }))
    .sort((a, b) => a.step - b.step);
}

const CHECKPOINT_FILE = /^iter_(\d+)\.ckpt$/;

/**
 * The run files of a resume from `ckpt` at `step`. From the work dir's own checkpoints: the scalar
 * log cut back to the checkpoint (see `ScalarLog.resume`), and the sample grids and `iter_N`
 * checkpoints of later steps removed (a branch the resumed run replaces). From another work dir's
 * checkpoint: only into a work dir without a run of its own, with a scalar log that starts at
 * `step` (the earlier rows stay in the checkpoint's work dir).
 */
async function resumeRunFiles(
  workDir: string,
  ckpt: string,
  record: RunRecord,
  step: number,
  say: (line: string) => void,
): Promise<ScalarLog> {
  const scalarsPath = join(workDir, 'scalars.json');
  const checkpoints = join(workDir, 'checkpoints');
  if (dirname(resolve(ckpt)) !== resolve(checkpoints)) {
    if (existsSync(scalarsPath)) {
      throw new RunDirError(
        `work dir ${workDir} holds a run of its own; a checkpoint of another work dir (${ckpt}) resumes only into a new one: add --work-dir <new dir>`,
      );
    }
    say(
      `scalars.json starts at step ${step}; the log of earlier steps is in the work dir of ${ckpt}`,
    );
    return ScalarLog.create(scalarsPath);
  }
  const scalars = ScalarLog.resume(scalarsPath, record.scalars_bytes, step);
  const later = [
    ...(await sampleGrids(workDir)).filter((g) => g.step > step).map((g) => join(workDir, g.file)),
    ...(await readdir(checkpoints))
      .filter((name) => Number(CHECKPOINT_FILE.exec(name)?.[1] ?? -1) > step)
      .map((name) => join(checkpoints, name)),
  ];
  await removeRunFiles(later);
  return scalars;
}

/**
 * `genloss train <config>`: trains the config's GAN in a work dir that holds this one run (a
 * lock stops a second process; an existing run is refused unless resumed or `force`d). Shows
 * progress (ETA and running means of every log_vars entry); appends the means of each log
 * interval to `scalars.json`; writes sample grids (`samples/step_N.png`) and the loss plot
 * (`losses.svg`) every `sample_interval` steps, checkpoints (`checkpoints/iter_N.ckpt` and
 * `latest.ckpt`) every `checkpoint_interval` steps, and the report (`report.html`, the whole run
 * over every resume) at the end, every file written atomically. SIGINT/SIGTERM finish the step,
 * checkpoint, write the report and return with `interrupted` set. With `resume`, continues from
 * a checkpoint bit for bit as an uninterrupted run would.
 */
export async function runTraining(
  configPath: string,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const workDir = options.workDir ?? join('work_dirs', basename(configPath, extname(configPath)));
  const say =
    options.progress === false ? () => {} : (line: string) => process.stdout.write(`${line}\n`);
  const mode = options.resume ? 'resume' : options.force ? 'force' : 'new';
  let runDir: RunDir | undefined;
  try {
    const prepared = await prepare(configPath, options, async () => {
      runDir = await openRunDir(workDir, mode);
    });
    try {
      return await train(configPath, workDir, options, prepared, say);
    } finally {
      prepared.trainer.dispose();
    }
  } finally {
    runDir?.release();
  }
}

/** The training loop of {@link runTraining}, in a work dir it holds. */
async function train(
  configPath: string,
  workDir: string,
  options: TrainOptions,
  { raw, cfg, backend, dataset, trainer }: Prepared,
  say: (line: string) => void,
): Promise<TrainResult> {
  const stop = catchStopSignals((line) => process.stderr.write(`\ngenloss: ${line}\n`));
  try {
    const iters = options.iters ?? cfg.train.iters;
    const digest = await configDigest(cfg);
    const scalarsPath = join(workDir, 'scalars.json');
    let record: RunRecord = { scalars_bytes: 0, window: { sums: {} }, parts: [] };
    let scalars: ScalarLog;
    if (options.resume) {
      const ckpt =
        typeof options.resume === 'string'
          ? options.resume
          : join(workDir, 'checkpoints', 'latest.ckpt');
      if (!existsSync(ckpt)) {
        throw new CheckpointError(
          `${ckpt}: no checkpoint to resume from; start a new run without --resume (with --force to replace a run in ${workDir})`,
        );
      }
      record = parseRunRecord(ckpt, await loadCheckpoint(trainer, ckpt, digest));
      scalars = await resumeRunFiles(workDir, ckpt, record, trainer.step, say);
      say(`resumed from ${ckpt} at step ${trainer.step}`);
    } else {
      scalars = ScalarLog.create(scalarsPath);
    }
    const { log_interval, sample_interval, checkpoint_interval } = cfg.train;
    const startStep = trainer.step;
    const part: RunPart = {
      started_at: new Date().toISOString(),
      start_step: startStep,
      end_step: startStep,
      seconds: 0,
      backend,
      ended: 'running',
      phase_seconds: {},
    };
    const started = performance.now();
    const timer = new PhaseTimer();
    trainer.model.timer = timer;
    const parts = () => [...record.parts, ...(part.end_step > part.start_step ? [part] : [])];
    const realFile = 'samples/real.png';
    const metricsFile = 'metrics.svg';
    const plot = () =>
      timer.time('I/O', async () => {
        const rows = await ScalarLog.read(scalarsPath);
        await writeFileAtomic(join(workDir, 'losses.svg'), lossPlotSvg(rows));
        const metrics = metricPlotSvg(rows);
        if (metrics !== null) await writeFileAtomic(join(workDir, metricsFile), metrics);
      });
    let lastMetrics: Record<string, number> = {};
    const writeSamples = async () => {
      const { images, columns } = timer.time('sampling', () => trainer.samples());
      try {
        const file = `step_${String(trainer.step).padStart(6, '0')}.png`;
        await timer.time('I/O', () =>
          writeFileAtomic(join(workDir, 'samples', file), imageGridPng(images, columns)),
        );
      } finally {
        images.dispose();
      }
      const metrics = await timer.time('metrics', () => trainer.evaluate());
      if (Object.keys(metrics).length > 0) {
        scalars.append({ step: trainer.step, ...metrics });
        lastMetrics = metrics;
      }
      await plot();
    };
    if (!existsSync(join(workDir, realFile))) {
      const count = Math.min(cfg.train.num_samples, trainer.dataset.size);
      const real = trainer.dataset.batch(Array.from({ length: count }, (_, i) => i));
      try {
        await timer.time('I/O', () => writeFileAtomic(join(workDir, realFile), imageGridPng(real)));
      } finally {
        real.dispose();
      }
    }
    let checkpointed = trainer.step;
    const checkpoint = async () => {
      part.end_step = trainer.step;
      part.seconds = (performance.now() - started) / 1000;
      part.ended = trainer.step >= iters ? 'finished' : (stop.signal ?? 'running');
      part.phase_seconds = Object.fromEntries(
        Object.entries(timer.totals()).map(([phase, ms]) => [phase, ms / 1000]),
      );
      const run: RunRecord = {
        scalars_bytes: scalars.bytes,
        window: record.window,
        parts: parts(),
      };
      await timer.time('I/O', () =>
        saveCheckpoint(
          trainer,
          [
            join(workDir, 'checkpoints', `iter_${trainer.step}.ckpt`),
            join(workDir, 'checkpoints', 'latest.ckpt'),
          ],
          digest,
          run,
        ),
      );
      checkpointed = trainer.step;
    };
    if (trainer.step === 0) {
      await writeSamples();
      await checkpoint();
    }
    say(
      trainer.step >= iters
        ? `genloss train ${configPath}: the run is at step ${trainer.step} of ${iters}, nothing to train (raise --iters to go on)`
        : `genloss train ${configPath}: steps ${trainer.step + 1}–${iters} on ${backend}, data ${dataset.name}, work dir ${workDir}`,
    );
    // One column spare: a line that fills the terminal's last column wraps on some terminals.
    const columns = (process.stdout.columns ?? 81) - 1;
    const barSize = Math.max(10, Math.min(30, columns - 90));
    const bar =
      options.progress !== false && process.stdout.isTTY && trainer.step < iters
        ? new cliProgress.SingleBar(
            { format: '{bar} {text}', barsize: barSize, hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
        : null;
    bar?.start(iters, startStep, { text: `${startStep}/${iters}` });
    let first: LogVars = {};
    let last: LogVars = {};
    /** The log_vars keys in the order they first came, so that the progress line keeps it. */
    const order: string[] = [];
    let lastLogged: Record<string, number> = {};
    let estimated = false;
    // Speed and ETA count from the first step, not from the step-0 samples, metrics and
    // checkpoint written before it (a GAN's first SWD also computes its floor).
    const loopStarted = performance.now();
    while (trainer.step < iters && stop.signal === null) {
      last = await trainer.trainStep();
      // A step awaits only promises that settle at once; this turn of the event loop lets a
      // signal (Ctrl-C) reach its handler between steps, not only at the next file write.
      await new Promise((resolve) => setImmediate(resolve));
      if (trainer.step === startStep + 1) first = last;
      const window = record.window;
      addToWindow(window, last);
      for (const key of Object.keys(last)) if (!order.includes(key)) order.push(key);
      const done = trainer.step - startStep;
      const seconds = (performance.now() - loopStarted) / 1000;
      const means = windowMeans(window);
      const losses = order.filter((k) => k in means).map((k) => `${k} ${fmt(means[k])}`);
      const head = [
        `${(done / seconds).toFixed(2)} it/s`,
        `ETA ${formatDuration(((iters - trainer.step) * seconds) / done)}`,
      ];
      bar?.update(trainer.step, {
        text: fitProgressLine([`${trainer.step}/${iters}`, ...head], losses, columns - barSize - 1),
      });
      if (!estimated && (done >= LONG_RUN_EVIDENCE.steps || seconds >= LONG_RUN_EVIDENCE.seconds)) {
        estimated = true;
        const warning = longRunWarning(done, seconds, iters - trainer.step);
        if (warning !== null) say(bar ? `\r\x1b[K${warning}` : warning);
      }
      if (trainer.step % log_interval === 0 || trainer.step === iters) {
        if (!bar) say(fitProgressLine([`step ${trainer.step}/${iters}`, ...head], losses, columns));
        lastLogged = means;
        scalars.append({ step: trainer.step, ...means });
        record.window = { sums: {} };
      }
      if (trainer.step % sample_interval === 0 || trainer.step === iters) await writeSamples();
      if (trainer.step % checkpoint_interval === 0 || trainer.step === iters) await checkpoint();
    }
    bar?.stop();
    // A signal that comes once the last step is done stops nothing.
    const interrupted = trainer.step < iters ? stop.signal : null;
    if (checkpointed !== trainer.step || interrupted) await checkpoint();
    if (trainer.step > startStep) await plot();
    const reportPath = join(workDir, 'report.html');
    const rows = await ScalarLog.read(scalarsPath);
    await writeFileAtomic(
      reportPath,
      reportHtml({
        title: `genloss train ${basename(configPath)}`,
        config: raw,
        parsed: cfg,
        dataset: dataset.name,
        rows,
        samples: await sampleGrids(workDir),
        realFile,
        plotFile: 'losses.svg',
        metricPlotFile: metricPlotSvg(rows) === null ? null : metricsFile,
        parts: parts(),
        versions: { genloss: genlossVersion(), tfjs: tf.version['tfjs-core'], backend },
      }),
    );
    const wallSeconds = (performance.now() - started) / 1000;
    const steps = trainer.step - startStep;
    if (steps > 0) {
      const finals = [
        ...order.filter((k) => k in lastLogged).map((k) => [k, lastLogged[k]] as const),
        ...Object.entries(lastMetrics),
      ]
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(' ');
      say(
        `genloss train: ${steps} steps (${startStep + 1}–${trainer.step}) in ${formatDuration(wallSeconds)}, ${(steps / wallSeconds).toFixed(2)} it/s | ${finals} | report ${reportPath} (samples, plots, scalars.json, checkpoints in ${workDir})`,
      );
    }
    if (interrupted) {
      say(
        `stopped by ${interrupted} at step ${trainer.step}: wrote checkpoints/latest.ckpt and ${reportPath}; go on with: genloss train ${configPath} --work-dir ${workDir} --resume`,
      );
    } else if (steps === 0) {
      say(`wrote ${reportPath}`);
    }
    return {
      workDir,
      steps,
      totalSteps: trainer.step,
      wallSeconds,
      first,
      last,
      reportPath,
      interrupted,
    };
  } finally {
    stop.dispose();
  }
}

/**
 * `genloss check <config>`: everything `train` does before its first step (config, custom
 * imports, backend, size checks, data, networks), then that first step itself, with the same
 * batch; writes no files. Returns the step's `log_vars`.
 */
export async function checkConfig(configPath: string, backend?: string): Promise<LogVars> {
  const { trainer } = await prepare(configPath, { backend });
  try {
    return await trainer.trainStep();
  } finally {
    trainer.dispose();
  }
}
