/**
 * `npm run bench`: times every workload of bench/workloads.ts — genloss, genloss's fused kernels
 * and the bare TF.js formula on each backend asked for, genloss again with its native
 * convolutions off (`GENLOSS_NATIVE=0`) on the conv-heavy workloads, and PyTorch CPU at its best
 * (bench/torch_baseline.py, run in the same invocation when `/usr/bin/python3 -c "import torch"`
 * works: OpenBLAS where installed, the conv workloads in NCHW and channels_last) — and writes
 * bench/results.md and bench/results.json with the ratios, their spreads and the issue's targets.
 *
 * The TF.js runs are child processes, one per native setting, because the native kernels are
 * registered (or not) when the backend starts.
 *
 * Options: `--only name,name` (workload names), `--backends wasm,cpu` (default wasm),
 * `--no-torch`, `--no-native-off`, `--cpu-heavy` (also run the conv-heavy workloads on `cpu`:
 * minutes each), `--no-write` (print the tables only, leaving bench/results.md and
 * bench/results.json as they are: for targeted runs of a few workloads). Never run by `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../src/index.ts';
import { type Step, WORKLOADS, type Workload } from './workloads.ts';

interface Timing {
  times_ms: number[];
  /** Tensors left behind per step (should be 0). */
  leaked_per_step?: number;
  /** The loss value of the first call (the same inputs in every process). */
  value?: number;
  note?: string;
}

type Form = 'genloss' | 'fused' | 'bare';

/** Per-call overhead of genloss over the bare formula, on the workload's tiny inputs. */
interface Overhead {
  genloss_us: number;
  bare_us: number;
  /** (genloss − bare) per call, as a share of the full-size bare step. */
  share_of_full_step: number;
}

/** What one TF.js child process measured: backend → workload → form → timing. */
interface ChildResult {
  timings: Record<string, Record<string, Partial<Record<Form, Timing>>>>;
  overhead: Record<string, Record<string, Overhead>>;
}

interface TorchRun {
  version: string;
  threads: number;
  blas: { library: string; corename?: string; mm_gflops: number; env: Record<string, string> };
  results: Record<string, Timing>;
}

/** PyTorch's suffix of a conv workload timed in channels_last (torch_baseline.py). */
const CHANNELS_LAST = '@channels_last';

interface Row {
  workload: string;
  group: Workload['group'];
  shape: string;
  trainSteps: number;
  /** PyTorch's best: the faster of its runs and (conv workloads) memory formats. */
  torch?: Timing;
  /** The faster run's medians in NCHW and channels_last (conv workloads), ms. */
  torch_formats?: { nchw?: number; channels_last?: number };
  /** Medians of the PyTorch runs before and after the TF.js runs, best format each. */
  torch_runs?: number[];
  /** backend → form → timing, native convolutions on. */
  tfjs: Record<string, Partial<Record<Form, Timing>>>;
  /** genloss on wasm with the native convolutions off (conv-heavy workloads). */
  native_off?: Timing;
  overhead: Record<string, Overhead>;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = option('only')?.split(',') ?? [];
const unknown = only.filter((n) => !WORKLOADS.some((w) => w.name === n));
if (unknown.length > 0) {
  throw new Error(
    `--only: no workload ${unknown.join(', ')}; workloads: ${WORKLOADS.map((w) => w.name).join(', ')}`,
  );
}
const backends = option('backends')?.split(',') ?? ['wasm'];
const selected = WORKLOADS.filter((w) => only.length === 0 || only.includes(w.name));

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
};
const median = (xs: number[]) => quantile(xs, 0.5);

async function time(step: Step, w: Workload): Promise<Timing> {
  let value = Number.NaN;
  for (let i = 0; i < w.warmup; i++) {
    const v = await step();
    if (i === 0) value = v;
  }
  const before = tf.memory().numTensors;
  const times: number[] = [];
  const start = performance.now();
  while (
    times.length < w.iters &&
    (times.length < 3 || performance.now() - start < w.budget * 1000)
  ) {
    const t0 = performance.now();
    const v = await step();
    times.push(performance.now() - t0);
    if (w.warmup === 0 && times.length === 1) value = v;
  }
  const leaked = (tf.memory().numTensors - before) / times.length;
  step.dispose?.();
  return { times_ms: times, leaked_per_step: leaked, value };
}

/** Median µs per call of genloss and bare on tiny inputs, interleaved in rounds against drift. */
async function measureOverhead(w: Workload, fullBareMs: number): Promise<Overhead> {
  const inputs = (w.tiny as () => Record<string, tf.Tensor | tf.Tensor[]>)();
  const genlossStep = w.genloss(inputs);
  const bareStep = (w.bare as (x: typeof inputs) => Step)(inputs);
  const rounds: [number[], number[]] = [[], []];
  for (let i = 0; i < 20; i++) {
    for (const [k, step] of [genlossStep, bareStep].entries()) {
      const t0 = performance.now();
      for (let j = 0; j < 25; j++) await step();
      rounds[k].push(((performance.now() - t0) / 25) * 1000);
    }
  }
  tf.dispose(Object.values(inputs).flat());
  const [g, b] = rounds.map((r) => median(r.slice(2)));
  return { genloss_us: g, bare_us: b, share_of_full_step: (g - b) / 1000 / fullBareMs };
}

/**
 * The TF.js side, in a child process (`--child`): every selected workload on every backend, all
 * forms; with `--native off` (run with `GENLOSS_NATIVE=0`) only genloss on wasm, conv-heavy
 * workloads only. Prints a {@link ChildResult} as JSON.
 */
async function child(nativeOn: boolean): Promise<ChildResult> {
  const result: ChildResult = { timings: {}, overhead: {} };
  for (const backend of nativeOn ? backends : ['wasm']) {
    await chooseBackend(backend);
    result.timings[backend] = {};
    result.overhead[backend] = {};
    for (const w of selected) {
      if (!nativeOn && w.onCpu) continue;
      const cell: Partial<Record<Form, Timing>> = {};
      result.timings[backend][w.name] = cell;
      if (backend === 'cpu' && !w.onCpu && !flag('cpu-heavy')) {
        cell.genloss = { times_ms: [], note: 'skipped on cpu (minutes per step; --cpu-heavy)' };
        continue;
      }
      const inputs = w.setup();
      const forms: [Form, ((x: typeof inputs) => Step) | undefined][] = nativeOn
        ? [
            ['genloss', w.genloss],
            ['fused', w.fused],
            ['bare', w.bare],
          ]
        : [['genloss', w.genloss]];
      for (const [form, make] of forms) {
        if (make === undefined) continue;
        try {
          cell[form] = await time(make(inputs), w);
        } catch (e) {
          cell[form] = { times_ms: [], note: `error: ${(e as Error).message.slice(0, 120)}` };
        }
        const t = cell[form] as Timing;
        const text = t.times_ms.length ? `${median(t.times_ms).toFixed(1)} ms` : t.note;
        console.error(`${backend}${nativeOn ? '' : ' native off'} ${w.name} ${form}: ${text}`);
      }
      tf.dispose(Object.values(inputs).flat());
      if (nativeOn && w.tiny && cell.bare?.times_ms.length) {
        result.overhead[backend][w.name] = await measureOverhead(w, median(cell.bare.times_ms));
      }
    }
  }
  return result;
}

function torchAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/**
 * One run of torch_baseline.py. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which this machine sets
 * for old OpenBLAS builds, are removed from its environment so that OpenBLAS picks its own kernel
 * (the script reports which).
 */
function runTorch(): TorchRun | null {
  if (flag('no-torch') || !torchAvailable()) return null;
  const script = fileURLToPath(new URL('./torch_baseline.py', import.meta.url));
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const run = spawnSync(
    '/usr/bin/python3',
    [script, '--only', selected.map((w) => w.name).join(',')],
    {
      encoding: 'utf8',
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    },
  );
  if (run.status !== 0) throw new Error(`torch_baseline.py exited with ${run.status}`);
  const parsed = JSON.parse(run.stdout) as Omit<TorchRun, 'version'> & { torch: string };
  return { ...parsed, version: parsed.torch };
}

/** The native kernels' threads in the bench: `GENLOSS_NATIVE_THREADS`, else PyTorch's (the cores). */
const NATIVE_THREADS = process.env.GENLOSS_NATIVE_THREADS ?? String(cpus().length);

/**
 * Runs {@link child} in a child process (`GENLOSS_NATIVE=0` for `off`) and parses its output. Its
 * native kernels run on {@link NATIVE_THREADS} threads (genloss's own default is one).
 */
function runChild(native: 'on' | 'off'): ChildResult {
  const env = { ...process.env };
  if (native === 'off') env.GENLOSS_NATIVE = '0';
  else delete env.GENLOSS_NATIVE;
  env.GENLOSS_NATIVE_THREADS = NATIVE_THREADS;
  const run = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--child', native],
    { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 },
  );
  if (run.status !== 0) throw new Error(`bench child (native ${native}) exited with ${run.status}`);
  return JSON.parse(run.stdout) as ChildResult;
}

// ── Report ────────────────────────────────────────────────────────────────────────────────────

/** PyTorch's best timing of a workload: the faster median over both runs and both formats. */
function torchBest(row: Row, runs: TorchRun[]): void {
  const candidates: { t: Timing; run: number; format: 'nchw' | 'channels_last' }[] = [];
  runs.forEach((r, run) => {
    const nchw = r.results[row.workload];
    const cl = r.results[row.workload + CHANNELS_LAST];
    if (nchw?.times_ms.length) candidates.push({ t: nchw, run, format: 'nchw' });
    if (cl?.times_ms.length) candidates.push({ t: cl, run, format: 'channels_last' });
  });
  if (candidates.length === 0) return;
  candidates.sort((a, b) => median(a.t.times_ms) - median(b.t.times_ms));
  const best = candidates[0];
  row.torch = best.t;
  const inRun = candidates.filter((c) => c.run === best.run);
  row.torch_formats = Object.fromEntries(inRun.map((c) => [c.format, median(c.t.times_ms)]));
  row.torch_runs = runs.map((_, run) => {
    const mine = candidates.filter((c) => c.run === run);
    return mine.length ? median(mine[0].t.times_ms) : Number.NaN;
  });
}

/** The ratio of medians a/b and its spread: [q1(a)/q3(b), q3(a)/q1(b)]. */
function ratioOf(a: Timing | undefined, b: Timing | undefined) {
  if (!a?.times_ms.length || !b?.times_ms.length) return null;
  const [at, bt] = [a.times_ms, b.times_ms];
  return {
    median: median(at) / median(bt),
    lo: quantile(at, 0.25) / quantile(bt, 0.75),
    hi: quantile(at, 0.75) / quantile(bt, 0.25),
  };
}

const ratioText = (r: ReturnType<typeof ratioOf>) =>
  r ? `${r.median.toFixed(2)}× [${r.lo.toFixed(2)}–${r.hi.toFixed(2)}]` : '–';

const fmt = (t: Timing | undefined): string => {
  if (!t) return '–';
  if (t.times_ms.length === 0) return t.note ?? '–';
  const m = median(t.times_ms);
  const digits = m < 10 ? 2 : 1;
  const leak = t.leaked_per_step ? ` **leak ${t.leaked_per_step}/step**` : '';
  return `${m.toFixed(digits)} [${Math.min(...t.times_ms).toFixed(digits)}–${Math.max(...t.times_ms).toFixed(digits)}] n=${t.times_ms.length}${leak}`;
};

/** Steps per second of a timing of `trainSteps`-step calls (median, and its quartile spread). */
const stepsPerSecond = (t: Timing | undefined, trainSteps: number) =>
  t?.times_ms.length
    ? `${((1000 * trainSteps) / median(t.times_ms)).toFixed(2)} steps/s [${((1000 * trainSteps) / quantile(t.times_ms, 0.75)).toFixed(2)}–${((1000 * trainSteps) / quantile(t.times_ms, 0.25)).toFixed(2)}]`
    : '–';

/** |on − off| / max(|on|, 1e-30): the native kernels' effect on the loss value. */
function nativeDifference(row: Row): number | null {
  const on = row.tfjs.wasm?.genloss?.value;
  const off = row.native_off?.value;
  if (on === undefined || off === undefined || Number.isNaN(on) || Number.isNaN(off)) return null;
  return Math.abs(on - off) / Math.max(Math.abs(on), 1e-30);
}

/** A relative difference within float32 precision: a few ulps (2⁻²⁴ ≈ 6e-8) of a long sum. */
const FLOAT32_AGREEMENT = 1e-5;

/** The issue's targets: a name, the rows it covers, and the bound on genloss/PyTorch. */
const TARGETS: { target: string; rows: (r: Row) => boolean; bound: number; stretch?: number }[] = [
  { target: 'WGAN-GP D step', rows: (r) => r.workload === 'wgan_gp_step', bound: 1.5, stretch: 1 },
  { target: 'R1 D step', rows: (r) => r.workload === 'r1_step', bound: 1.5, stretch: 1 },
  { target: 'VGG19 perceptual step', rows: (r) => r.group === 'perceptual', bound: 2 },
  {
    target: 'GAN losses on patch maps',
    rows: (r) => r.group === 'gan' && r.workload.endsWith('patch'),
    bound: 1.5,
  },
  { target: 'element-wise losses', rows: (r) => r.group === 'elementwise', bound: 1 },
];

async function report(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg();
  // PyTorch runs before and after the TF.js runs; the faster of the two medians is its number.
  // On a shared machine a busy spell hurts 2-thread oneDNN far more than single-threaded TF.js,
  // so one PyTorch run alone can flatter the ratios; the best of two does not.
  const torchBefore = runTorch();
  const on = runChild('on');
  const off = flag('no-native-off') || !backends.includes('wasm') ? null : runChild('off');
  const torchAfter = torchBefore ? runTorch() : null;
  const torchRuns = [torchBefore, torchAfter].filter((t): t is TorchRun => t !== null);

  const rows: Row[] = selected.map((w) => {
    const row: Row = {
      workload: w.name,
      group: w.group,
      shape: w.shape,
      trainSteps: w.trainSteps ?? 0,
      tfjs: Object.fromEntries(backends.map((b) => [b, on.timings[b]?.[w.name] ?? {}])),
      native_off: off?.timings.wasm?.[w.name]?.genloss,
      overhead: Object.fromEntries(
        backends.flatMap((b) => (on.overhead[b]?.[w.name] ? [[b, on.overhead[b][w.name]]] : [])),
      ),
    };
    torchBest(row, torchRuns);
    return row;
  });

  const torch = torchRuns[0];
  const lines: string[] = ['# genloss benchmark results', ''];
  lines.push(
    `Run ${started.toISOString()} with \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\`; ` +
      `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ` +
      `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )}. The machine is shared with other work: a load average above its ${cpus().length} cores means the numbers are noisy (PyTorch's 2 threads suffer most); compare within one run only.`,
  );
  lines.push(
    torch
      ? `PyTorch ${torch.version}, CPU, ${torch.threads} thread(s) (bench/torch_baseline.py), BLAS ${torch.blas.library}${torch.blas.corename ? ` (OpenBLAS core ${torch.blas.corename})` : ''}: torch.mm 256×576·576×4096 at ${torchRuns.map((r) => r.blas.mm_gflops.toFixed(1)).join(' / ')} GFLOP/s. Run before and after the TF.js runs; each conv workload also in channels_last; the fastest median of runs × formats is PyTorch's number. TF.js 4.22 backends are single-threaded; genloss's native kernels (XNNPACK) ran on ${NATIVE_THREADS} thread(s) (\`GENLOSS_NATIVE_THREADS\`; genloss's default is 1).`
      : 'PyTorch: skipped (`/usr/bin/python3 -c "import torch"` failed, or --no-torch); no ratios.',
  );
  lines.push(
    '',
    'Times: median [min–max] of n timed steps in ms, after warm-up; a step is forward + backward + reading the loss (demo: 8 training steps). ',
    'Ratio = genloss median / PyTorch best median, [spread] = [q1(genloss)/q3(PyTorch) – q3(genloss)/q1(PyTorch)]. ',
    '"native off": genloss with `GENLOSS_NATIVE=0` (a separate process), on the conv-heavy workloads; "Δ value on/off": relative difference of the first step\'s loss between the two. ',
    '"fused": `fusedPixelLoss` / `fusedGradientLoss` / `fusedGanLoss` called directly; "bare": the formula in plain TF.js ops; "layer overhead per call": (genloss − bare) on 1×4×4×C inputs, as a share of the full-size bare step.',
    '',
  );

  lines.push('## Targets (genloss on wasm, native on, against PyTorch at its best)', '');
  lines.push(
    '| target | workload | genloss/PyTorch [spread] | bound | result |',
    '|---|---|---|---|---|',
  );
  for (const t of TARGETS) {
    for (const row of rows.filter(t.rows)) {
      const r = ratioOf(row.tfjs.wasm?.genloss, row.torch);
      const pass = r === null ? '–' : r.median <= t.bound ? 'pass' : '**miss**';
      const stretch =
        t.stretch !== undefined && r !== null
          ? `; stretch ≤ ${t.stretch}×: ${r.median <= t.stretch ? 'pass' : 'miss'}`
          : '';
      lines.push(
        `| ${t.target} | ${row.workload} | ${ratioText(r)} | ≤ ${t.bound}× | ${pass}${stretch} |`,
      );
    }
  }
  for (const row of rows.filter((r) => r.trainSteps > 0)) {
    const onT = row.tfjs.wasm?.genloss;
    const speedup = ratioOf(row.native_off, onT);
    lines.push(
      `| demo steps/s vs native off (the pre-issue-14 wasm kernels) | ${row.workload} | ${stepsPerSecond(onT, row.trainSteps)} vs ${stepsPerSecond(row.native_off, row.trainSteps)}: ${ratioText(speedup)} | ≥ 3× | ${speedup === null ? '–' : speedup.median >= 3 ? 'pass' : '**miss**'} |`,
      `| demo against PyTorch | ${row.workload} | genloss ${stepsPerSecond(onT, row.trainSteps)}, PyTorch ${stepsPerSecond(row.torch, row.trainSteps)}: ${ratioText(ratioOf(onT, row.torch))} | – | – |`,
    );
  }
  const leaks = rows.flatMap((r) =>
    [...Object.values(r.tfjs).flatMap((c) => Object.values(c)), r.native_off].filter(
      (t): t is Timing => t !== undefined && (t.leaked_per_step ?? 0) !== 0,
    ),
  );
  lines.push(
    `| zero tensors leaked per step | all | ${leaks.length} timings leaked | 0 | ${leaks.length === 0 ? 'pass' : '**miss**'} |`,
  );
  const diffs = rows.flatMap((r) => {
    const d = nativeDifference(r);
    return d === null ? [] : [[r.workload, d] as const];
  });
  const worst = diffs.reduce((m, [, d]) => Math.max(m, d), 0);
  lines.push(
    `| native on/off agree | ${diffs.map(([w, d]) => `${w} ${d.toExponential(1)}`).join(', ') || '–'} | worst ${worst.toExponential(1)} | ≤ ${FLOAT32_AGREEMENT} | ${diffs.length === 0 ? '–' : worst <= FLOAT32_AGREEMENT ? 'pass' : '**miss**'} |`,
    '',
  );

  for (const backend of backends) {
    lines.push(`## TF.js \`${backend}\``, '');
    lines.push(
      '| workload | shape | PyTorch best | PyTorch NCHW / channels_last | genloss | genloss/PyTorch [spread] | native off | Δ value on/off | fused | bare TF.js | layer overhead per call |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of rows) {
      const c = row.tfjs[backend] ?? {};
      const formats = row.torch_formats
        ? [row.torch_formats.nchw, row.torch_formats.channels_last]
            .map((m) => (m === undefined ? '–' : m.toFixed(1)))
            .join(' / ')
        : '–';
      const runs =
        row.torch_runs && row.torch_runs.length > 1
          ? ` (runs ${row.torch_runs.map((m) => m.toFixed(1)).join(' / ')})`
          : '';
      const o = row.overhead[backend];
      const overhead = o
        ? `${(o.genloss_us - o.bare_us).toFixed(0)} µs = ${(o.share_of_full_step * 100).toFixed(2)}% of the step`
        : '–';
      const native = backend === 'wasm' ? fmt(row.native_off) : '–';
      const d = backend === 'wasm' ? nativeDifference(row) : null;
      lines.push(
        `| ${row.workload} | ${row.shape} | ${fmt(row.torch)}${runs} | ${formats} | ${fmt(c.genloss)} | ${ratioText(ratioOf(c.genloss, row.torch))} | ${native} | ${d === null ? '–' : d.toExponential(1)} | ${fmt(c.fused)} | ${fmt(c.bare)} | ${overhead} |`,
      );
    }
    lines.push('');
  }
  console.log(lines.join('\n'));
  if (flag('no-write')) return;
  writeFileSync(new URL('./results.md', import.meta.url), `${lines.join('\n')}\n`);
  writeFileSync(
    new URL('./results.json', import.meta.url),
    `${JSON.stringify(
      {
        started: started.toISOString(),
        node: process.version,
        cpus: cpus().length,
        loadavg_before: loadBefore,
        loadavg_after: loadavg(),
        torch: torch
          ? { version: torch.version, threads: torch.threads, blas: torchRuns.map((r) => r.blas) }
          : null,
        rows,
      },
      null,
      1,
    )}\n`,
  );
}

const childMode = option('child');
if (childMode !== undefined) {
  process.stdout.write(JSON.stringify(await child(childMode === 'on')));
} else {
  await report();
}
