import {
  CheckpointError,
  ConfigError,
  DataError,
  DataInfoError,
  GenlossError,
  NonFiniteLossError,
  RunDirError,
  ShapeError,
  WeightsError,
} from '../core/errors.ts';

/**
 * The exit codes of the `genloss` command, one per kind of failure (the README lists them).
 * 130 and 143 are a run stopped by SIGINT or SIGTERM after writing its checkpoint and report.
 */
export const EXIT_CODES = {
  ok: 0,
  /** An error genloss did not anticipate: a bug (the stack is printed with `--verbose`). */
  internal: 1,
  /** Bad command-line arguments. */
  usage: 2,
  /** An invalid config: a key, a type, a value, a size that cannot fit. */
  config: 3,
  /** A data file that cannot be used. */
  data: 4,
  /** A checkpoint or weight file that is missing, corrupt or does not fit. */
  checkpoint: 5,
  /** A work dir that holds another run, is locked by another process, or is not writable. */
  workDir: 6,
  /** Training diverged: a loss went NaN or infinite. */
  nonFinite: 8,
} as const;

/** The exit code for an error thrown by a command (see {@link EXIT_CODES}). */
export function exitCodeOf(error: unknown): number {
  if (error instanceof DataError) return EXIT_CODES.data;
  if (error instanceof CheckpointError || error instanceof WeightsError)
    return EXIT_CODES.checkpoint;
  if (error instanceof RunDirError) return EXIT_CODES.workDir;
  if (error instanceof NonFiniteLossError) return EXIT_CODES.nonFinite;
  if (error instanceof ConfigError || error instanceof DataInfoError || error instanceof ShapeError)
    return EXIT_CODES.config;
  return EXIT_CODES.internal;
}

/**
 * The one message printed for an error: `genloss: <Kind>: <message>` for genloss's own errors;
 * for any other, `genloss: internal error: <message>` and how to see the stack. With `verbose`,
 * the stack follows.
 */
export function errorMessage(error: unknown, verbose: boolean): string {
  const err = error instanceof Error ? error : new Error(String(error));
  const head =
    err instanceof GenlossError
      ? `genloss: ${err.name}: ${err.message}`
      : `genloss: internal error: ${err.name}: ${err.message || '(no message)'}${verbose ? '' : ' (run with --verbose for the stack)'}`;
  return verbose && err.stack ? `${head}\n${err.stack}` : head;
}

type ErrorListener = (error: unknown) => void;
const ours = new Set<ErrorListener>();

/**
 * Removes the process-wide `uncaughtException` and `unhandledRejection` handlers that other code
 * installed, keeping the CLI's own. TF.js's wasm backend (Emscripten) installs handlers that
 * rethrow, so that any error not caught elsewhere printed a line of minified wasm glue source
 * before the error, and exited with code 7. Called after a backend starts; does nothing unless
 * {@link handleEscapedErrors} was installed (the `genloss` executable, not a program that imports
 * the CLI's functions, whose handlers stay its own).
 */
export function dropForeignErrorHandlers(): void {
  if (ours.size === 0) return;
  for (const event of ['uncaughtException', 'unhandledRejection']) {
    for (const listener of process.listeners(event as 'uncaughtException') as ErrorListener[]) {
      if (!ours.has(listener)) process.off(event, listener);
    }
  }
}

/**
 * Installs the CLI's handlers for errors that escape every `await`: print one message (see
 * {@link errorMessage}) and exit with the error's code.
 */
export function handleEscapedErrors(verbose: () => boolean): void {
  const fail = (error: unknown) => {
    process.stderr.write(`${errorMessage(error, verbose())}\n`);
    process.exit(exitCodeOf(error));
  };
  ours.add(fail);
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}
