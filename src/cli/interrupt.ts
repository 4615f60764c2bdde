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
 * The same signal again within this many milliseconds of the first is the same request: a
 * terminal's Ctrl-C reaches every process of its group, and a launcher in it (npm) may pass it
 * on again.
 */
export const REPEAT_WINDOW_MS = 1000;

/**
 * Catches SIGINT and SIGTERM for a training loop: the first one only sets `signal`, so that the
 * loop finishes its step, writes a checkpoint and the report, and exits; a second one (the other
 * signal, or the same a second or more later: see {@link REPEAT_WINDOW_MS}) exits at once, with
 * its code (130 or 143), as soon as the event loop turns (after the step in progress). Exiting at once
 * corrupts nothing: every file of a run is written to a temporary file and renamed, and the lock
 * goes with the process's `exit` hook.
 */
export function catchStopSignals(say: (line: string) => void): StopRequest {
  let signal: StopSignal | null = null;
  let first = 0;
  const handler = (received: StopSignal) => {
    if (signal !== null) {
      if (received === signal && performance.now() - first < REPEAT_WINDOW_MS) return;
      say(`${received} again: exiting now; the last checkpoint is kept`);
      process.exit(SIGNAL_EXIT_CODES[received]);
    }
    signal = received;
    first = performance.now();
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
