/**
 * `npm run bench`: times every workload of bench/workloads.ts — genloss, genloss's fused kernels
 * and the bare TF.js formula on each available backend, and PyTorch CPU
 * (bench/torch_baseline.py, run in the same invocation when `/usr/bin/python3 -c "import torch"`
 * works) — and writes bench/results.md and bench/results.json.
 *
 * Options: `--only name,name` (workload names), `--backends cpu,wasm`, `--no-torch`,
 * `--cpu-heavy` (also run the conv-heavy workloads on `cpu`: minutes each).
 * Never run by `npm test`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../src/index.ts';
import { type Step, WORKLOADS, type Workload } from './workloads.ts';

interface Timing {
  times_ms: number[];
  /** Tensors left behind per step (should be 0). */
  leaked_per_step?: number;
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

interface Row {
  workload: string;
  group: Workload['group'];
  shape: string;
  torch?: Timing;
  /** Medians of the PyTorch runs before and after the TF.js runs (the faster one is `torch`). */
  torch_runs?: number[];
  /** backend → form → timing. */
  tfjs: Record<string, Partial<Record<Form, Timing>>>;
  overhead: Record<string, Overhead>;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = option('only')?.split(',') ?? [];
const backends = option('backends')?.split(',') ?? ['wasm', 'cpu'];
const selected = WORKLOADS.filter((w) => only.length === 0 || only.includes(w.name));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function time(step: Step, w: Workload): Timing {
  for (let i = 0; i < w.warmup; i++) step();
  const before = tf.memory().numTensors;
  const times: number[] = [];
  const start = performance.now();
  while (
    times.length < w.iters &&
    (times.length < 3 || performance.now() - start < w.budget * 1000)
  ) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return { times_ms: times, leaked_per_step: (tf.memory().numTensors - before) / times.length };
}

function torchAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function runTorch(): { version: string; threads: number; results: Record<string, Timing> } | null {
  if (flag('no-torch') || !torchAvailable()) return null;
  const script = new URL('./torch_baseline.py', import.meta.url).pathname;
  const names = selected.map((w) => w.name).join(',');
  const out = execFileSync('/usr/bin/python3', [script, '--only', names], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const parsed = JSON.parse(out) as {
    torch: string;
    threads: number;
    results: Record<string, Timing>;
  };
  return { version: parsed.torch, threads: parsed.threads, results: parsed.results };
}

const rows: Row[] = selected.map((w) => ({
  workload: w.name,
  group: w.group,
  shape: w.shape,
  tfjs: {},
  overhead: {},
}));
const started = new Date();
const loadBefore = loadavg();

// PyTorch runs before and after the TF.js runs; the faster of the two medians is its number.
// On a shared machine a busy spell hurts 2-thread oneDNN far more than single-threaded TF.js,
// so one PyTorch run alone can flatter the ratios; the best of two does not.
const torchBefore = runTorch();

for (const backend of backends) {
  await chooseBackend(backend);
  for (const [i, w] of selected.entries()) {
    const row = rows[i];
    const cell: Partial<Record<Form, Timing>> = {};
    row.tfjs[backend] = cell;
    if (backend === 'cpu' && !w.onCpu && !flag('cpu-heavy')) {
      const skipped = {
        times_ms: [],
        note: 'skipped on cpu (minutes per step; --cpu-heavy runs it)',
      };
      cell.genloss = skipped;
      cell.bare = skipped;
      continue;
    }
    const inputs = w.setup();
    const forms: [Form, ((x: typeof inputs) => Step) | undefined][] = [
      ['genloss', w.genloss],
      ['fused', w.fused],
      ['bare', w.bare],
    ];
    for (const [form, make] of forms) {
      if (make === undefined) continue;
      try {
        cell[form] = time(make(inputs), w);
      } catch (e) {
        cell[form] = { times_ms: [], note: `error: ${(e as Error).message.slice(0, 120)}` };
      }
      const t = cell[form] as Timing;
      const text = t.times_ms.length ? `${median(t.times_ms).toFixed(1)} ms` : t.note;
      console.error(`${backend} ${w.name} ${form}: ${text}`);
    }
    tf.dispose(Object.values(inputs).flat());
    if (w.tiny && cell.bare?.times_ms.length) {
      row.overhead[backend] = measureOverhead(w, median(cell.bare.times_ms));
    }
  }
}

/** Median µs per call of genloss and bare on tiny inputs, interleaved in rounds against drift. */
function measureOverhead(w: Workload, fullBareMs: number): Overhead {
  const inputs = (w.tiny as () => Record<string, tf.Tensor | tf.Tensor[]>)();
  const genlossStep = (w.genloss as (x: typeof inputs) => Step)(inputs);
  const bareStep = w.bare(inputs);
  const rounds: [number[], number[]] = [[], []];
  for (let i = 0; i < 20; i++) {
    [genlossStep, bareStep].forEach((step, k) => {
      const t0 = performance.now();
      for (let j = 0; j < 25; j++) step();
      rounds[k].push(((performance.now() - t0) / 25) * 1000);
    });
  }
  tf.dispose(Object.values(inputs).flat());
  const [g, b] = rounds.map((r) => median(r.slice(2)));
  return { genloss_us: g, bare_us: b, share_of_full_step: (g - b) / 1000 / fullBareMs };
}

const torchAfter = torchBefore ? runTorch() : null;
const torch = torchBefore;
if (torchBefore) {
  for (const row of rows) {
    const runs = [torchBefore.results[row.workload], torchAfter?.results[row.workload]].filter(
      (t): t is Timing => t !== undefined && t.times_ms.length > 0,
    );
    runs.sort((a, b) => median(a.times_ms) - median(b.times_ms));
    row.torch = runs[0];
    row.torch_runs = runs.map((t) => median(t.times_ms));
  }
}

// ── Report ────────────────────────────────────────────────────────────────────────────────────

const fmt = (t: Timing | undefined): string => {
  if (!t) return '–';
  if (t.times_ms.length === 0) return t.note ?? '–';
  const m = median(t.times_ms);
  const lo = Math.min(...t.times_ms);
  const hi = Math.max(...t.times_ms);
  const digits = m < 10 ? 2 : 1;
  const leak = t.leaked_per_step ? ` **leak ${t.leaked_per_step}/step**` : '';
  return `${m.toFixed(digits)} [${lo.toFixed(digits)}–${hi.toFixed(digits)}] n=${t.times_ms.length}${leak}`;
};
const ratio = (a: Timing | undefined, b: Timing | undefined): string =>
  a?.times_ms.length && b?.times_ms.length
    ? `${(median(a.times_ms) / median(b.times_ms)).toFixed(2)}×`
    : '–';
const overhead = (a: Timing | undefined, b: Timing | undefined): string =>
  a?.times_ms.length && b?.times_ms.length
    ? `${(((median(a.times_ms) - median(b.times_ms)) / median(b.times_ms)) * 100).toFixed(1)}%`
    : '–';

const overheadText = (o: Overhead | undefined): string =>
  o
    ? `${(o.genloss_us - o.bare_us).toFixed(0)} µs = ${(o.share_of_full_step * 100).toFixed(2)}% of the step`
    : '–';

const TARGETS: Record<Workload['group'], number> = {
  elementwise: 1.5,
  sobel: 1.5,
  gan: Number.NaN,
  penalty: 2,
  perceptual: 3,
  other: Number.NaN,
};

const lines: string[] = [];
lines.push('# genloss benchmark results', '');
lines.push(
  `Run ${started.toISOString()} with \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\`; ` +
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ` +
    `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
);
lines.push(
  torch
    ? `PyTorch ${torch.version}, CPU, ${torch.threads} thread(s) (bench/torch_baseline.py), run before and after the TF.js runs; the faster median of the two is shown and used for ratios. TF.js 4.22 backends are single-threaded.`
    : 'PyTorch: skipped (`/usr/bin/python3 -c "import torch"` failed, or --no-torch); no ratios.',
);
lines.push(
  '',
  'Times: median [min–max] of n timed steps in ms, after warm-up; a step is forward + backward + reading the loss. ',
  '"genloss": the public API as shipped; "fused": `fusedPixelLoss` / `fusedGradientLoss` (src/backends, fused kernels); "bare": the same formula in plain TF.js ops. ',
  'Ratio = median / PyTorch median. "genloss vs bare (full size)" = genloss / bare − 1 at full size, within run-to-run noise; ',
  '"layer overhead per call" = (genloss − bare) on 1×4×4×C inputs, where a step is all per-call cost, as a share of the full-size bare step: the cost of validation, registry and reduction layers.',
  '',
);
for (const backend of backends) {
  lines.push(`## TF.js \`${backend}\``, '');
  lines.push(
    '| workload | shape | PyTorch | genloss | fused | bare TF.js | genloss/PyTorch | fused/PyTorch | target | genloss vs bare (full size) | layer overhead per call |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const c = row.tfjs[backend] ?? {};
    const target = TARGETS[row.group];
    lines.push(
      `| ${row.workload} | ${row.shape} | ${fmt(row.torch)}${row.torch_runs && row.torch_runs.length > 1 ? ` (runs ${row.torch_runs.map((m) => m.toFixed(1)).join(' / ')})` : ''} | ${fmt(c.genloss)} | ${c.fused ? fmt(c.fused) : '–'} | ${fmt(c.bare)} | ${ratio(c.genloss, row.torch)} | ${c.fused ? ratio(c.fused, row.torch) : '–'} | ${Number.isNaN(target) ? '–' : `≤ ${target}×`} | ${overhead(c.genloss, c.bare)} | ${overheadText(row.overhead[backend])} |`,
    );
  }
  lines.push('');
}
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
      torch: torch ? { version: torch.version, threads: torch.threads } : null,
      rows,
    },
    null,
    1,
  )}\n`,
);
console.log(lines.join('\n'));
