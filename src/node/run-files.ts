/**
 * The files of a training run beside its checkpoints (Node.js only): the append-only scalar log
 * and atomic writes.
 */
import { appendFileSync, closeSync, ftruncateSync, openSync, statSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { CheckpointError } from '../core/errors.ts';

/**
 * Writes `data` to `path` atomically: to `<path>.tmp-<pid>` beside it, then renamed over it, so
 * that a reader (or a killed process) never sees a half-written file. A leftover temporary file
 * is removed when the run directory is next opened.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** One line of the scalar log: a step and the mean of each logged value over its interval. */
export interface ScalarRow {
  step: number;
  [key: string]: number;
}

/**
 * A run's scalar log (`scalars.json`, as mmengine's): one JSON object per logged step, appended
 * as the run goes, never rewritten. The file's length in bytes is stored in each checkpoint; a
 * resume cuts the log back to that length, dropping the rows of steps after the checkpoint (they
 * are logged again, identically, as the run redoes them).
 */
export class ScalarLog {
  private constructor(
    readonly path: string,
    private length: number,
  ) {}

  /** Starts an empty log at `path`, replacing any file there. */
  static create(path: string): ScalarLog {
    closeSync(openSync(path, 'w'));
    return new ScalarLog(path, 0);
  }

  /**
   * Reopens the log of a run resumed from a checkpoint written when the log was `bytes` long:
   * cuts it back to that length. A log shorter than that was not written by this run: a
   * `CheckpointError`.
   */
  static resume(path: string, bytes: number): ScalarLog {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new CheckpointError(
        `${path}: the run's scalar log is missing; the checkpoint expects ${bytes} bytes of it`,
      );
    }
    if (size < bytes) {
      throw new CheckpointError(
        `${path}: the run's scalar log has ${size} bytes, the checkpoint expects at least ${bytes}; it is not this run's log`,
      );
    }
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    return new ScalarLog(path, bytes);
  }

  /** The log's length in bytes, for the checkpoint. */
  get bytes(): number {
    return this.length;
  }

  /** Appends one row (a single write of one line). */
  append(row: ScalarRow): void {
    const line = `${JSON.stringify(row)}\n`;
    appendFileSync(this.path, line);
    this.length += Buffer.byteLength(line);
  }

  /** Every row of the log at `path`, oldest first (a torn last line is ignored). */
  static async read(path: string): Promise<ScalarRow[]> {
    const text = await readFile(path, 'utf8').catch(() => '');
    const rows: ScalarRow[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        rows.push(JSON.parse(line) as ScalarRow);
      } catch {
        // A line cut by a kill mid-append: the next resume truncates it away.
      }
    }
    return rows;
  }
}
