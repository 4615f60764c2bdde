/**
 * Wall time per phase of a training run (`D step`, `regularisers`, `G step`, `sampling`,
 * `metrics`, `I/O`), for the report. A phase's time excludes the phases timed inside it, so the
 * totals add up to the time timed, each millisecond counted once.
 *
 * Honest on the `cpu` and `wasm` backends (and `tensorflow`, whose kernels also return when
 * done), which compute synchronously: a call returns when its numbers exist, so the wall time
 * around it is its cost. Phases run one at a time, nested as calls nest (an async phase is
awaited before the next starts). On WebGL a kernel only queues GPU work; timing a phase there needs an
 * `await tensor.data()` at its end, or its cost lands in the next phase that reads a value.
 */
export class PhaseTimer {
  private readonly ms = new Map<string, number>();
  /** Per phase running now, innermost last: the time its inner phases took. */
  private readonly open: number[] = [];

  /** `now`: the clock, in milliseconds (default `performance.now`). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Runs `fn` and adds its wall time to `phase`; a promise `fn` returns is timed until it
   * settles. Returns what `fn` returns (and throws what it throws, the time counted).
   */
  time<T>(phase: string, fn: () => T): T {
    const start = this.now();
    this.open.push(0);
    const stop = () => {
      const elapsed = this.now() - start;
      const inner = this.open.pop() ?? 0;
      this.ms.set(phase, (this.ms.get(phase) ?? 0) + elapsed - inner);
      if (this.open.length > 0) this.open[this.open.length - 1] += elapsed;
    };
    let result: T;
    try {
      result = fn();
    } catch (error) {
      stop();
      throw error;
    }
    if (result instanceof Promise) return result.finally(stop) as T;
    stop();
    return result;
  }

  /** Milliseconds per phase so far, in the order the phases first ran. */
  totals(): Record<string, number> {
    return Object.fromEntries(this.ms);
  }
}
