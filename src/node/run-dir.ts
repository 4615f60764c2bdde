import { lstatSync, readFileSync, rmSync, type Stats, unlinkSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RunDirError } from '../core/errors.ts';

/**
 * How `openRunDir` treats a work dir that already holds a run: `'new'` refuses it, `'resume'`
 * keeps it (to continue it), `'force'` deletes genloss's run files and starts clean.
 */
export type RunDirMode = 'new' | 'resume' | 'force';

/** Options of `openRunDir`. */
export interface RunDirOptions {
  /** Receives what `openRunDir` did on its own (stale lock, leftovers). Default: stderr. */
  log?: (line: string) => void;
}

/** A work dir this process holds the lock of, for one run. */
export interface RunDir {
  /** The work dir, as given to `openRunDir`. */
  readonly path: string;
  /**
   * Removes the lock file if it is still this process's. Synchronous and idempotent; also runs
   * on process exit.
   */
  release(): void;
}

/**
 * What a lock file holds: the process that trains in the work dir, its host and when it started
 * (ISO 8601).
 */
export interface RunDirLock {
  pid: number;
  hostname: string;
  started_at: string;
}

/** The lock file's name in a work dir. */
export const LOCK_FILE = '.lock';

/**
 * The files and folders of one genloss run in its work dir: the ones `'new'` looks for and
 * `'force'` deletes. Nothing else in the dir is touched.
 */
export const RUN_FILES: readonly string[] = [
  'checkpoints',
  'samples',
  'scalars.json',
  'report.html',
  'losses.svg',
  'metrics.svg',
];

/**
 * An unreadable lock file (or `.lock.break`) younger than this may be one that a live process is
 * writing (or using): it is not stale yet.
 */
const STALE_MS = 5000;

/** Leftover temporary files (`<file>.tmp-<pid>…`) of atomic writes, removed on open. */
const TEMP_FILE = /\.tmp-\d+$/;

/** The folders whose leftover temporary files are removed, and whose writability is probed. */
const SUBFOLDERS = ['checkpoints', 'samples'];

const errorText = (err: unknown) => (err as Error).message;
const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Parses a lock file's text; `null` for anything that is not a lock genloss wrote. */
function parseLock(text: string): RunDirLock | null {
  try {
    const v = JSON.parse(text) as Partial<RunDirLock>;
    const valid =
      Number.isInteger(v.pid) &&
      (v.pid as number) > 0 &&
      typeof v.hostname === 'string' &&
      typeof v.started_at === 'string';
    return valid ? (v as RunDirLock) : null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid runs on this host (EPERM: it runs, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return code(err) === 'EPERM';
  }
}

/** The lock file as read now, or `null` when it is gone. */
function readLock(lockPath: string): { text: string; stat: Stats } | null {
  try {
    const stat = lstatSync(lockPath);
    return { text: readFileSync(lockPath, 'utf8'), stat };
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw new RunDirError(`cannot read the lock file ${lockPath} (${errorText(err)})`);
  }
}

/** How long ago a file was last written, or `null` when it is gone. */
function ageMs(path: string): number | null {
  try {
    return Date.now() - lstatSync(path).mtimeMs;
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Removes the stale lock file `stale` (as read before), and nothing else: under a second lock
 * (`.lock.break`, created exclusively), it checks that the lock file is still that one. A process
 * that finds `.lock.break` taken leaves the lock to the one breaking it; a `.lock.break` older
 * than a few seconds was left by a process killed while breaking, and is removed. Returns
 * whether this process removed the stale lock.
 */
function removeStaleLock(lockPath: string, stale: { text: string; stat: Stats }): boolean {
  const breakPath = `${lockPath}.break`;
  try {
    writeFileSync(breakPath, `${process.pid}\n`, { flag: 'wx' });
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
    if ((ageMs(breakPath) ?? 0) >= STALE_MS) rmSync(breakPath, { force: true });
    return false;
  }
  try {
    const now = readLock(lockPath);
    const same =
      now !== null &&
      now.text === stale.text &&
      now.stat.ino === stale.stat.ino &&
      now.stat.mtimeMs === stale.stat.mtimeMs;
    if (same) unlinkSync(lockPath);
    return same;
  } finally {
    unlinkSync(breakPath);
  }
}

/**
 * Takes the work dir's lock: creates `.lock` exclusively; a lock of a process that no longer
 * runs on this host (or an unreadable one older than a few seconds) is stale: removed, logged,
 * and the create is tried once more. Throws `RunDirError` when another process holds the lock or
 * is taking it.
 */
function takeLock(workDir: string, log: (line: string) => void): RunDirLock {
  const lockPath = join(workDir, LOCK_FILE);
  const mine: RunDirLock = {
    pid: process.pid,
    hostname: hostname(),
    started_at: new Date().toISOString(),
  };
  const inUse = (who: string) =>
    new RunDirError(
      `work dir ${workDir} is in use: ${who}. Wait for that run to finish or use --work-dir ` +
        `<another dir>; if no genloss runs there, delete ${lockPath}`,
    );
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${JSON.stringify(mine)}\n`, { flag: 'wx' });
      return mine;
    } catch (err) {
      if (code(err) !== 'EEXIST') {
        throw new RunDirError(`work dir ${workDir}: cannot create ${lockPath} (${errorText(err)})`);
      }
    }
    const found = readLock(lockPath);
    if (found === null) continue;
    const held = parseLock(found.text);
    if (held === null) {
      const age = Date.now() - found.stat.mtimeMs;
      if (age < STALE_MS) {
        throw inUse(`another process is taking its lock (${lockPath} is not written yet)`);
      }
      if (removeStaleLock(lockPath, found)) {
        log(`removed the unreadable lock file ${lockPath} (${Math.round(age / 1000)} s old)`);
      }
      continue;
    }
    const since = `since ${held.started_at}`;
    if (held.hostname !== mine.hostname) {
      throw inUse(`genloss pid ${held.pid} on host ${held.hostname} has held its lock ${since}`);
    }
    if (isAlive(held.pid)) throw inUse(`genloss pid ${held.pid} has been training there ${since}`);
    if (removeStaleLock(lockPath, found)) {
      log(
        `removed the stale lock of ${workDir}: pid ${held.pid} (started ${held.started_at}) no ` +
          'longer runs',
      );
    }
  }
  throw inUse(`another process is taking its lock (${lockPath})`);
}

/** Which of genloss's run files the dir holds (folders count when they are not empty). */
async function runFilesIn(workDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of RUN_FILES) {
    try {
      const stat = await lstat(join(workDir, name));
      if (!stat.isDirectory() || (await readdir(join(workDir, name))).length > 0) found.push(name);
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err;
    }
  }
  return found;
}

/** Removes leftover temporary files of interrupted atomic writes in the dir and its subfolders. */
async function removeTempFiles(workDir: string, log: (line: string) => void): Promise<void> {
  for (const folder of ['.', ...SUBFOLDERS]) {
    let entries: string[];
    try {
      entries = await readdir(join(workDir, folder));
    } catch {
      continue;
    }
    for (const name of entries.filter((n) => TEMP_FILE.test(n))) {
      const path = join(workDir, folder, name);
      const stat = await lstat(path);
      if (!stat.isFile()) continue;
      await unlink(path);
      const size = stat.size >= 1e6 ? `${(stat.size / 1e6).toFixed(1)} MB` : `${stat.size} B`;
      log(`removed ${path} (${size}), left by an interrupted write`);
    }
  }
}

/** Creates the subfolders and checks the dir and each of them by writing and removing a file. */
async function checkWritable(workDir: string): Promise<void> {
  for (const folder of ['.', ...SUBFOLDERS]) {
    const dir = join(workDir, folder);
    const probe = join(dir, `.write-probe.tmp-${process.pid}`);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(probe, '');
      await unlink(probe);
    } catch (err) {
      const hint = ['EEXIST', 'ENOTDIR'].includes(code(err) ?? '') ? ': not a folder' : '';
      throw new RunDirError(
        `work dir ${workDir}: cannot write in ${dir}${hint} (${errorText(err)})`,
      );
    }
  }
}

/**
 * Opens a work dir for one run. Creates it if needed and takes its lock (`<workDir>/.lock`,
 * created exclusively, holding {pid, hostname, started_at}); a lock whose process no longer runs
 * is removed (and logged). Then, by `mode`: `'new'` refuses a dir that holds a run (any of
 * `RUN_FILES`), `'force'` deletes exactly those, `'resume'` keeps everything. In every mode it
 * removes leftover temporary files (`*.tmp-<pid>`) of interrupted writes and checks that the dir,
 * `checkpoints/` and `samples/` (created here) are writable. Throws `RunDirError`, holding no
 * lock, when another process trains there, the dir holds a run in `'new'` mode, or a folder is
 * not writable. The lock goes with `release()` or when the process exits.
 */
export async function openRunDir(
  workDir: string,
  mode: RunDirMode,
  options: RunDirOptions = {},
): Promise<RunDir> {
  const log = options.log ?? ((line: string) => process.stderr.write(`genloss: ${line}\n`));
  try {
    await mkdir(workDir, { recursive: true });
  } catch (err) {
    throw new RunDirError(`work dir ${workDir}: cannot create it (${errorText(err)})`);
  }
  const lockPath = join(workDir, LOCK_FILE);
  const mine = takeLock(workDir, log);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      const found = readLock(lockPath);
      const held = found && parseLock(found.text);
      if (held?.pid === mine.pid && held.started_at === mine.started_at) unlinkSync(lockPath);
    } catch {
      // An unreadable or vanished lock is not ours to remove; the next start judges it.
    }
  };
  process.on('exit', release);
  try {
    const found = await runFilesIn(workDir);
    if (mode === 'new' && found.length > 0) {
      throw new RunDirError(
        `work dir ${workDir} already holds a run (${found.join(', ')}). Use --resume to ` +
          'continue it, --force to delete it and start over, or --work-dir <another dir>',
      );
    }
    if (mode === 'force' && found.length > 0) {
      for (const name of found) await rm(join(workDir, name), { recursive: true, force: true });
      log(`--force: deleted the previous run in ${workDir} (${found.join(', ')})`);
    }
    await removeTempFiles(workDir, log);
    await checkWritable(workDir);
  } catch (err) {
    release();
    throw err;
  }
  return { path: workDir, release };
}
