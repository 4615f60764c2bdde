/**
 * One training run of the playground: a `Trainer` on the embedded shapes data or on the images
 * the user dropped (playground/images.ts), stepped by the page, with the scalar log `genloss train` keeps (the mean of every loss over each
 * `train.log_interval`, and the metric rows of each `train.sample_interval`) and checkpoints in
 * the CLI's format (`encodeCheckpoint`, with a run record `genloss train --resume` accepts).
 */
import * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import type { RunRecord } from '../src/cli/run-record.ts';
import { ConfigError } from '../src/core/errors.ts';
import { parseOptions } from '../src/core/options.ts';
import { defaultGenerator } from '../src/core/random.ts';
import type { LogVars } from '../src/models/optimise.ts';
import type { ScalarRow } from '../src/node/run-files.ts';
import { configDigest, encodeCheckpoint } from '../src/train/checkpoint.ts';
import {
  MODEL_KINDS,
  type shapesDataOptions,
  type TrainConfig,
  trainConfigOptions,
} from '../src/train/config.ts';
import { type ArrayDataset, shapesDataset } from '../src/train/datasets.ts';
import { checkDataSize, DEFAULT_MEMORY_LIMIT_BYTES } from '../src/train/limits.ts';
import { PhaseTimer } from '../src/train/phase-timer.ts';
import type { SampleGrid } from '../src/train/task.ts';
import { Trainer } from '../src/train/trainer.ts';

/** Steps over which the shown speed is measured. */
const SPEED_WINDOW = 20;

/** A validated config of the embedded shapes data. */
export type ShapesTrainConfig = TrainConfig & { data: z.output<typeof shapesDataOptions> };

/**
 * Validates a config as `genloss train` does (`parseOptions` with the train config's schema,
 * owner `config`) and checks that the page can train it: on the embedded shapes (`data.type:
 * shapes`; a folder is read by the CLI only). A `ConfigError` naming the key otherwise.
 */
export function parsePlaygroundConfig(raw: unknown): ShapesTrainConfig {
  const cfg = parseOptions('config', trainConfigOptions, raw);
  if (cfg.data.type !== 'shapes') {
    throw new ConfigError(
      `config: option 'data.type' must be 'shapes' in the playground (an image folder is read by genloss train; drop images onto the page to train on them), got '${cfg.data.type}'`,
    );
  }
  checkDataSize(cfg.data, DEFAULT_MEMORY_LIMIT_BYTES);
  return { ...cfg, data: cfg.data };
}

/**
 * Checks that `cfg` can train on the dropped `images` (read at `data.size`) instead of the
 * shapes: not a matting model (DIM needs the shapes' exact alpha mattes), and enough images for
 * a batch (after the `data.val_images` an image-to-image model holds out). A `ConfigError`
 * naming the key otherwise.
 */
function checkDroppedImages(cfg: ShapesTrainConfig, images: ArrayDataset): void {
  const kind = MODEL_KINDS[cfg.model.type];
  if (kind === 'matting') {
    throw new ConfigError(
      `config: option 'model.type' ${cfg.model.type} (matting) trains on the shapes only, whose exact alpha mattes it needs; dropped images have none: clear them to train it`,
    );
  }
  const held = kind === 'gan' ? 0 : cfg.data.val_images;
  const { batch_size } = cfg.train;
  if (images.size - held < batch_size) {
    const after = held > 0 ? ` after the ${held} that data.val_images holds out` : '';
    throw new ConfigError(
      `config: option 'train.batch_size' is ${batch_size}, but the ${images.size} dropped images leave ${images.size - held} to train${after}: drop more images or lower train.batch_size${held > 0 ? ' or data.val_images' : ''}`,
    );
  }
}

/**
 * A run of a config (as parsed from YAML, before defaults), on the shapes its `data` describes or
 * on `images` (dropped images at `data.size`). Runs can be stepped alternately: each
 * keeps its own state of genloss's default seed generator (the one GP's α and the path noise
 * draw from, which every `Trainer` shares) and puts it in place around its own steps, samples and
 * metrics, so that two runs interleaved draw what each would draw alone.
 */
export class PlaygroundRun {
  readonly trainer: Trainer;
  /** The scalar log, as `genloss train` writes `scalars.json`. */
  readonly rows: ScalarRow[] = [];
  /** The `log_vars` of the last step. */
  last: LogVars = {};
  private window: RunRecord['window'] = { sums: {} };
  private rng: number;
  private readonly timer = new PhaseTimer();
  private readonly startedAt = new Date().toISOString();
  /** Time spent in this run's steps, samples and metrics (pauses and the other run left out). */
  private activeMs = 0;
  private readonly stepMs: number[] = [];

  constructor(
    readonly raw: unknown,
    images?: ArrayDataset,
  ) {
    const cfg = parsePlaygroundConfig(raw);
    if (images) checkDroppedImages(cfg, images);
    const { num_images, size, seed } = cfg.data;
    this.trainer = new Trainer(raw, images ?? shapesDataset(num_images, size, seed));
    this.trainer.model.timer = this.timer;
    this.rng = defaultGenerator.getState();
  }

  get cfg(): TrainConfig {
    return this.trainer.cfg;
  }

  get step(): number {
    return this.trainer.step;
  }

  get done(): boolean {
    return this.trainer.step >= this.cfg.train.iters;
  }

  /**
   * Training steps per second over the last steps: the steps' own time, not counting samples,
   * metrics, drawing, or the steps of a run trained alternately with this one (0 before a step).
   */
  get stepsPerSecond(): number {
    const ms = this.stepMs.reduce((a, b) => a + b, 0);
    return ms > 0 ? (this.stepMs.length * 1000) / ms : 0;
  }

  /**
   * Runs `fn` with this run's state of the default seed generator in place; its time counts as
   * the run's.
   */
  private async withRng<T>(fn: () => T | Promise<T>): Promise<T> {
    defaultGenerator.manualSeed(this.rng);
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.activeMs += performance.now() - started;
      this.rng = defaultGenerator.getState();
    }
  }

  /**
   * One training step; at `train.log_interval` (and the last step) the means of the interval
   * are appended to {@link rows}.
   */
  async trainStep(): Promise<LogVars> {
    const started = performance.now();
    this.last = await this.withRng(() => this.trainer.trainStep());
    this.stepMs.push(performance.now() - started);
    if (this.stepMs.length > SPEED_WINDOW) this.stepMs.shift();
    for (const [k, v] of Object.entries(this.last)) {
      if (!Number.isFinite(v)) continue;
      const [sum, count] = this.window.sums[k] ?? [0, 0];
      this.window.sums[k] = [sum + v, count + 1];
    }
    const { log_interval } = this.cfg.train;
    if (this.step % log_interval === 0 || this.done) {
      const means = Object.entries(this.window.sums).map(([k, [s, n]]) => [k, s / n]);
      this.rows.push({ step: this.step, ...Object.fromEntries(means) });
      this.window = { sums: {} };
    }
    return this.last;
  }

  /** Whether this step is one that `genloss train` renders samples and metrics at. */
  get sampleDue(): boolean {
    const { sample_interval } = this.cfg.train;
    return this.step === 0 || this.step % sample_interval === 0 || this.done;
  }

  /** The sample grid of this step; the caller disposes its images. */
  samples(): Promise<SampleGrid> {
    return this.withRng(() => this.timer.time('sampling', () => this.trainer.samples()));
  }

  /** The quality metrics of this step, appended to {@link rows} as a row of their own. */
  async evaluate(): Promise<Record<string, number>> {
    const metrics = await this.withRng(() =>
      this.timer.time('metrics', () => this.trainer.evaluate()),
    );
    if (Object.keys(metrics).length > 0) this.rows.push({ step: this.step, ...metrics });
    return metrics;
  }

  /**
   * The run's checkpoint, as `genloss train` writes `checkpoints/latest.ckpt`: the trainer's
   * state, the config's digest and a run record of one part (this page's run, from step 0), so
   * that `genloss train <config> --resume <file> --work-dir <new dir>` goes on from it.
   */
  async checkpoint(): Promise<Uint8Array> {
    const run: RunRecord = {
      scalars_bytes: 0,
      window: this.window,
      parts: [
        {
          started_at: this.startedAt,
          start_step: 0,
          end_step: this.step,
          seconds: this.activeMs / 1000,
          backend: tf.getBackend(),
          ended: this.done ? 'finished' : 'running',
          phase_seconds: Object.fromEntries(
            Object.entries(this.timer.totals()).map(([phase, ms]) => [phase, ms / 1000]),
          ),
        },
      ],
    };
    const state = await this.trainer.getState();
    try {
      return await encodeCheckpoint(state, await configDigest(this.cfg), run);
    } finally {
      tf.dispose(Object.values(state.tensors));
    }
  }

  dispose(): void {
    this.trainer.dispose();
  }
}
