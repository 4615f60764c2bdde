/**
 * The files of a training run beside its checkpoints (Node.js only): the append-only scalar log
 * and atomic writes. A file-system failure (no space, no permission, a file where a folder was)
 * is a `RunDirError` naming the path.
 */
import { appendFileSync, closeSync, ftruncateSync, openSync, readSync, statSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { RunDirError } from '../core/errors.ts';

/** Runs a file operation; its error becomes `RunDirError: cannot <what> <path> (<reason>)`. */
async function onDisk<T>(what: string, path: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new RunDirError(`cannot ${what} ${path} (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/**
 * Writes `data` to `path` atomically: to `<path>.tmp-<pid>` beside it, then renamed over it, so
 * that a reader (or a killed process) never sees a half-written file. A leftover temporary file
 * is removed when the run directory is next opened.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  await onDisk('write', path, async () => {
    try {
      await writeFile(temp, data);
      await rename(temp, path);
    } finally {
      await rm(temp, { force: true }).catch(() => {});
    }
  });
}

/** Removes files of a run (sample grids, checkpoints of a replaced branch). */
export async function removeRunFiles(paths: readonly string[]): Promise<void> {
  for (const path of paths) await onDisk('remove', path, () => rm(path, { force: true }));
}

/** One line of the scalar log: a step and the mean of each logged value over its interval. */
export interface ScalarRow {
  step: number;
  [key: string]: number;
}

const isRow = (value: unknown): value is ScalarRow =>
  value !== null &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  Number.isSafeInteger((value as ScalarRow).step) &&
  Object.values(value).every((v) => typeof v === 'number' || v === null);

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
   * Reopens the log of a run resumed from a checkpoint at `step`, written when the log was
   * `bytes` long: cuts it back to that length. The log must be this run's: at least that long,
   * with a whole row ending at the cut whose step is at most `step`; else a `RunDirError`.
   */
  static resume(path: string, bytes: number, step: number): ScalarLog {
    const refuse = (why: string): never => {
      throw new RunDirError(
        `${path}: ${why}; it is not the log of the run this checkpoint belongs to (start a new run, or resume into a new --work-dir)`,
      );
    };
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return refuse(`the run's scalar log is missing (the checkpoint expects ${bytes} bytes)`);
    }
    if (size < bytes) refuse(`the log has ${size} bytes, the checkpoint expects at least ${bytes}`);
    const fd = openSync(path, 'r+');
    try {
      if (bytes > 0) {
        // The last kept row: read back from the cut to the line before it.
        const tail = Buffer.alloc(Math.min(bytes, 64 * 1024));
        readSync(fd, tail, 0, tail.length, bytes - tail.length);
        const text = tail.toString('utf8');
        const line = text.slice(text.lastIndexOf('\n', text.length - 2) + 1, -1);
        let row: unknown = null;
        try {
          row = JSON.parse(line);
        } catch {}
        if (!text.endsWith('\n') || !isRow(row)) refuse(`no whole row ends at byte ${bytes}`);
        if ((row as ScalarRow).step > step) {
          refuse(`the row at byte ${bytes} is of step ${(row as ScalarRow).step}, after ${step}`);
        }
      }
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
    try {
      appendFileSync(this.path, line);
    } catch (error) {
      throw new RunDirError(`cannot append to ${this.path} (${(error as Error).message})`, {
        cause: error,
      });
    }
    this.length += Buffer.byteLength(line);
  }

  /**
   * Every row of the log at `path`, oldest first; none when there is no log. A last line cut by
   * a kill mid-append is left out; any other line that is not a row is a `RunDirError` naming it.
   */
  static async read(path: string): Promise<ScalarRow[]> {
    const text = await onDisk('read', path, () =>
      readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return '';
        throw error;
      }),
    );
    const lines = text.split('\n');
    const rows: ScalarRow[] = [];
    for (const [i, line] of lines.entries()) {
      if (line === '') continue;
      let row: unknown = null;
      try {
        row = JSON.parse(line);
      } catch {}
      if (isRow(row)) rows.push(row);
      else if (i < lines.length - 1) {
        throw new RunDirError(`${path}: line ${i + 1} is not a row of genloss's scalar log`);
      }
    }
    return rows;
  }
}
