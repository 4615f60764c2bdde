import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import cliProgress from 'cli-progress';
import { chooseBackend } from '../core/backend.ts';
import { parseOptions } from '../core/options.ts';
import type { LogVars } from '../models/gan-with-customized-loss.ts';
import { loadCheckpoint, saveCheckpoint } from '../node/checkpoint-file.ts';
import { loadConfigFile } from '../node/config.ts';
import { imageFolderDataset, imageGridPng } from '../node/images.ts';
import { configDigest } from '../train/checkpoint.ts';
import { type TrainConfig, trainConfigOptions } from '../train/config.ts';
import { type ImageDataset, shapesDataset } from '../train/datasets.ts';
import { Trainer } from '../train/trainer.ts';
import { lossPlotSvg } from './plot.ts';
import { reportHtml } from './report.ts';

/** Options of `genloss train`. */
export interface TrainOptions {
  /** Where samples, plots, checkpoints and the report go. Default `work_dirs/<config name>`. */
  workDir?: string;
  /** Resume from this checkpoint (`true`: the work dir's `checkpoints/latest.ckpt`). */
  resume?: string | boolean;
  /** Overrides `train.iters`. */
  iters?: number;
  /** Overrides the config's backend. */
  backend?: string;
  /** Progress output: a bar on a terminal, a line per `log_interval` otherwise; `false` prints nothing. */
  progress?: boolean;
}

/** What a finished run reports. */
export interface TrainResult {
  workDir: string;
  steps: number;
  wallSeconds: number;
  first: LogVars;
  last: LogVars;
  reportPath: string;
}

/** Reads a config file, imports its `custom_imports` (relative to the file), and validates it. */
export async function loadTrainConfig(path: string): Promise<{ raw: unknown; cfg: TrainConfig }> {
  const raw = await loadConfigFile(path);
  const imports = (raw as { custom_imports?: unknown })?.custom_imports;
  await importCustom(path, Array.isArray(imports) ? imports : []);
  return { raw, cfg: parseOptions(path, trainConfigOptions, raw) };
}

/** Imports user modules named by a config, relative paths resolved against the config's folder. */
export async function importCustom(configPath: string, modules: readonly unknown[]): Promise<void> {
  for (const spec of modules) {
    if (typeof spec !== 'string') continue;
    const relative = spec.startsWith('./') || spec.startsWith('../');
    const target =
      relative || isAbsolute(spec) ? pathToFileURL(resolve(dirname(configPath), spec)).href : spec;
    await import(target);
  }
}

/** The dataset a config names; folder paths are relative to the config file. */
export async function datasetFor(cfg: TrainConfig, configPath: string): Promise<ImageDataset> {
  const d = cfg.data;
  if (d.type === 'shapes') return shapesDataset(d.num_images, d.size, d.seed);
  return imageFolderDataset(resolve(dirname(configPath), d.path), d.size);
}

const fmt = (v: number) =>
  Math.abs(v) >= 100 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4);

/** Running means of every log key over the last `window` steps. */
function runningMeans(rows: readonly { log: LogVars }[], window: number): Record<string, number> {
  const recent = rows.slice(-window);
  const sums: Record<string, [number, number]> = {};
  for (const { log } of recent) {
    for (const [k, v] of Object.entries(log)) {
      if (!Number.isFinite(v)) continue;
      const [sum, count] = sums[k] ?? [0, 0];
      sums[k] = [sum + v, count + 1];
    }
  }
  return Object.fromEntries(Object.entries(sums).map(([k, [s, n]]) => [k, s / n]));
}

/**
 * `genloss train <config>`: trains the config's GAN, showing progress (ETA and running means of
 * every log_vars entry), writing sample grids (`samples/step_N.png`) and the loss plot
 * (`losses.svg`) every `sample_interval` steps, checkpoints (`checkpoints/iter_N.ckpt` and
 * `latest.ckpt`, written atomically) every `checkpoint_interval` steps and at the end, and an HTML
 * report (`report.html`). With `resume`, continues from a checkpoint exactly as an uninterrupted
 * run would.
 */
export async function runTraining(
  configPath: string,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const { raw, cfg } = await loadTrainConfig(configPath);
  const backend = await chooseBackend(options.backend ?? cfg.backend);
  const workDir = options.workDir ?? join('work_dirs', basename(configPath, extname(configPath)));
  const iters = options.iters ?? cfg.train.iters;
  const digest = configDigest(raw);
  const dataset = await datasetFor(cfg, configPath);
  const trainer = new Trainer(raw, dataset);
  const say =
    options.progress === false ? () => {} : (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (options.resume) {
      const ckpt =
        typeof options.resume === 'string'
          ? options.resume
          : join(workDir, 'checkpoints', 'latest.ckpt');
      await loadCheckpoint(trainer, ckpt, digest);
      say(`resumed from ${ckpt} at step ${trainer.step}`);
    }
    await mkdir(join(workDir, 'samples'), { recursive: true });
    say(
      `genloss train ${configPath}: ${iters} steps on ${backend}, data ${dataset.name}, work dir ${workDir}`,
    );
    const samples: { step: number; file: string }[] = [];
    const writeSamples = async () => {
      const file = `samples/step_${String(trainer.step).padStart(6, '0')}.png`;
      const images = trainer.samples();
      await writeFile(join(workDir, file), imageGridPng(images));
      images.dispose();
      samples.push({ step: trainer.step, file });
      await writeFile(join(workDir, 'losses.svg'), lossPlotSvg(trainer.history));
    };
    const checkpoint = async () => {
      const path = join(workDir, 'checkpoints', `iter_${trainer.step}.ckpt`);
      await saveCheckpoint(trainer, path, digest);
      await saveCheckpoint(trainer, join(workDir, 'checkpoints', 'latest.ckpt'), digest);
    };
    if (trainer.step === 0) await writeSamples();
    const bar =
      options.progress !== false && process.stdout.isTTY
        ? new cliProgress.SingleBar(
            {
              format: '{bar} {value}/{total} | {speed} it/s | ETA {eta_formatted} | {losses}',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
    const startStep = trainer.step;
    bar?.start(iters, startStep, { speed: '-', losses: '' });
    const started = performance.now();
    while (trainer.step < iters) {
      await trainer.trainStep();
      const done = trainer.step - startStep;
      const seconds = (performance.now() - started) / 1000;
      const means = runningMeans(trainer.history, cfg.train.log_interval);
      const losses = Object.entries(means)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(' ');
      bar?.update(trainer.step, { speed: (done / seconds).toFixed(2), losses });
      if (!bar && (trainer.step % cfg.train.log_interval === 0 || trainer.step === iters)) {
        const eta = ((iters - trainer.step) * seconds) / done;
        say(
          `step ${trainer.step}/${iters} | ${(done / seconds).toFixed(2)} it/s | ETA ${eta.toFixed(0)} s | ${losses}`,
        );
      }
      if (trainer.step % cfg.train.sample_interval === 0 || trainer.step === iters)
        await writeSamples();
      if (trainer.step % cfg.train.checkpoint_interval === 0 || trainer.step === iters)
        await checkpoint();
    }
    bar?.stop();
    const wallSeconds = (performance.now() - started) / 1000;
    const reportPath = join(workDir, 'report.html');
    await writeFile(
      reportPath,
      reportHtml({
        title: `genloss train ${basename(configPath)}`,
        config: raw,
        backend,
        dataset: dataset.name,
        history: trainer.history,
        samples,
        plotFile: 'losses.svg',
        wallSeconds,
      }),
    );
    say(
      `wrote ${reportPath}, ${samples.length} sample grids, losses.svg and checkpoints in ${workDir}`,
    );
    const history = trainer.history;
    return {
      workDir,
      steps: trainer.step - startStep,
      wallSeconds,
      first: history[0]?.log ?? {},
      last: history[history.length - 1]?.log ?? {},
      reportPath,
    };
  } finally {
    trainer.dispose();
  }
}

/** `genloss check <config>`: validates the config and runs one step without writing files. */
export async function checkConfig(configPath: string, backend?: string): Promise<LogVars> {
  const { raw, cfg } = await loadTrainConfig(configPath);
  await chooseBackend(backend ?? cfg.backend);
  const small = {
    ...(raw as object),
    train: { ...cfg.train, batch_size: Math.min(cfg.train.batch_size, 4) },
  };
  const dataset = await datasetFor(cfg, configPath);
  const trainer = new Trainer(small, dataset);
  try {
    return await trainer.trainStep();
  } finally {
    trainer.dispose();
  }
}
