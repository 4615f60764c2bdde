/** A signal that stops a run: Ctrl-C, or `kill`'s default. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a run stopped by each signal (128 + the signal's number, as shells report). */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** A stop request caught while training (see {@link catchStopSignals}). */
export interface StopRequest {
  /** The first signal received, or null. */
  readonly signal: StopSignal | null;
  /** Puts Node's default handling back. */
  dispose(): void;
}

/**
 * Catches SIGINT and SIGTERM for a training loop: the first one only sets `signal`, so that the
 * loop finishes its step, writes a checkpoint and the report, and exits; a second one exits at
 * once (with 130 or 143). Exiting at once corrupts nothing: every file of a run is written to a
 * temporary file and renamed, and the lock goes with the process's `exit` hook.
 */
export function catchStopSignals(say: (line: string) => void): StopRequest {
  let signal: StopSignal | null = null;
  const handler = (received: StopSignal) => {
    if (signal !== null) {
      say(`${received} again: exiting now; the last checkpoint is kept`);
      process.exit(SIGNAL_EXIT_CODES[received]);
    }
    signal = received;
    say(
      `${received}: finishing this step, then writing a checkpoint and the report (${received === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again exits at once)`,
    );
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    get signal() {
      return signal;
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
