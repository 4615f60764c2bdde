import YAML from 'yaml';
import type { ScalarRow } from '../node/run-files.ts';
import { METRIC_PREFIX } from './plot.ts';
import type { RunPart } from './run-record.ts';

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The versions a run ran with, for the report. */
export interface RunVersions {
  genloss: string;
  /** `tf.version['tfjs-core']`. */
  tfjs: string;
  backend: string;
}

/** What the HTML report shows. */
export interface ReportInput {
  title: string;
  /** The config as given (the file as read). */
  config: unknown;
  /** The config as parsed, defaults filled in. */
  parsed: unknown;
  dataset: string;
  /** The scalar log's rows, oldest first. */
  rows: readonly ScalarRow[];
  /** Every sample grid of the run, oldest first: step and path relative to the report. */
  samples: readonly { step: number; file: string }[];
  /** A grid of real images of the data set, relative to the report. */
  realFile: string;
  plotFile: string;
  /** The metric plot (see `metricPlotSvg`), or null when the run logged no metric. */
  metricPlotFile: string | null;
  /** The run's parts, one per start or resume (see `RunPart`). */
  parts: readonly RunPart[];
  versions: RunVersions;
}

/** A config key whose parsed value is not what the file gave: `given` undefined when defaulted. */
export interface ConfigDifference {
  key: string;
  given?: unknown;
  value: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The keys whose parsed value the config file did not give as is, by dotted path
 * (`train.log_interval`, `model.disc_auxiliary_loss[0].loss_weight`), in the parsed config's
 * order: each leaf of `parsed` that `raw` lacks (defaulted) or holds with another value (parsed
 * differently, such as `1e-3` given as a string). Objects and arrays are compared key by key,
 * down to their leaves; a parsed value absent from `raw` is listed as a whole.
 */
export function configDifferences(raw: unknown, parsed: unknown, key = ''): ConfigDifference[] {
  const child = (k: string | number) =>
    typeof k === 'number' ? `${key}[${k}]` : key === '' ? k : `${key}.${k}`;
  if (isRecord(parsed) && isRecord(raw)) {
    return Object.entries(parsed).flatMap(([k, v]) =>
      v === undefined
        ? []
        : k in raw
          ? configDifferences(raw[k], v, child(k))
          : [{ key: child(k), value: v }],
    );
  }
  if (Array.isArray(parsed) && Array.isArray(raw) && parsed.length === raw.length) {
    return parsed.flatMap((v, i) => configDifferences(raw[i], v, child(i)));
  }
  return JSON.stringify(raw) === JSON.stringify(parsed) ? [] : [{ key, given: raw, value: parsed }];
}

const json = (v: unknown) => esc(JSON.stringify(v) ?? 'undefined');

function meanOver(rows: readonly ScalarRow[], key: string): number {
  const vals = rows.map((r) => r[key]).filter(Number.isFinite);
  return vals.reduce((a, b) => a + b, 0) / (vals.length || 1);
}

const rate = (steps: number, seconds: number) =>
  seconds > 0 ? `${(steps / seconds).toFixed(2)} steps/s` : '–';

/** The phases of a step first, then the CLI's, as the report lists them. */
const PHASE_ORDER = ['D step', 'regularisers', 'G step', 'sampling', 'metrics', 'I/O'];

/**
 * The phases' wall time over every part, in `PHASE_ORDER` (others after), and the rest of the
 * parts' wall time as `other`.
 */
function phaseRows(parts: readonly RunPart[]): [string, number][] {
  const totals = new Map<string, number>();
  for (const p of parts) {
    for (const [phase, s] of Object.entries(p.phase_seconds)) {
      totals.set(phase, (totals.get(phase) ?? 0) + s);
    }
  }
  const rank = (phase: string) => {
    const i = PHASE_ORDER.indexOf(phase);
    return i < 0 ? PHASE_ORDER.length : i;
  };
  const wall = parts.reduce((s, p) => s + p.seconds, 0);
  const timed = [...totals.values()].reduce((a, b) => a + b, 0);
  return [
    ...[...totals].sort((a, b) => rank(a[0]) - rank(b[0])),
    ['other (data, logging, the loop)', Math.max(0, wall - timed)],
  ];
}

/**
 * A self-contained HTML report of a whole training run, over every resume: total steps and wall
 * time, the genloss and TF.js versions and the backend, a table of the run's parts (start, steps,
 * wall time, speed, backend, how each ended), the wall time per phase over the run (`D step`,
 * `regularisers`, `G step`, `sampling`, `metrics`, `I/O`), the loss plot, the mean of each logged
 * loss over the first and the last tenth of the log, the metric plot and each metric's first and
 * last value (when the run logged metrics), a grid of real images beside every sample grid, the
 * config as given, and the keys whose parsed value was defaulted or differs from it.
 */
export function reportHtml(r: ReportInput): string {
  const allKeys = [...new Set(r.rows.flatMap((h) => Object.keys(h)))].filter((k) => k !== 'step');
  const metricKeys = allKeys.filter((k) => k.startsWith(METRIC_PREFIX));
  const keys = allKeys.filter((k) => !k.startsWith(METRIC_PREFIX));
  const lossRows = r.rows.filter((row) => keys.some((k) => k in row));
  const tenth = Math.max(1, Math.floor(lossRows.length / 10));
  const first = lossRows.slice(0, tenth);
  const last = lossRows.slice(-tenth);
  const steps = r.parts.length ? r.parts[r.parts.length - 1].end_step : 0;
  const seconds = r.parts.reduce((s, p) => s + p.seconds, 0);
  const rows = keys
    .map(
      (k) =>
        `<tr><td>${esc(k)}</td><td>${meanOver(first, k).toPrecision(5)}</td><td>${meanOver(last, k).toPrecision(5)}</td></tr>`,
    )
    .join('\n');
  const parts = r.parts
    .map(
      (p, i) =>
        `<tr><td>${i + 1}</td><td>${esc(p.started_at)}</td><td>${p.start_step} → ${p.end_step}</td><td>${p.seconds.toFixed(1)} s</td><td>${rate(p.end_step - p.start_step, p.seconds)}</td><td>${esc(p.backend)}</td><td>${esc(p.ended)}</td></tr>`,
    )
    .join('\n');
  const phases = phaseRows(r.parts)
    .map(
      ([phase, s]) =>
        `<tr><td>${esc(phase)}</td><td>${s.toFixed(2)} s</td><td>${seconds > 0 ? ((100 * s) / seconds).toFixed(1) : '–'} %</td></tr>`,
    )
    .join('\n');
  const metrics = metricKeys
    .map((k) => {
      const values = r.rows.filter((row) => Number.isFinite(row[k]));
      const at = (row: ScalarRow | undefined) =>
        row ? `${row[k].toPrecision(5)} (step ${row.step})` : '–';
      return `<tr><td>${esc(k)}</td><td>${at(values[0])}</td><td>${at(values.at(-1))}</td></tr>`;
    })
    .join('\n');
  const metricSection =
    r.metricPlotFile === null
      ? ''
      : `<h2>Metrics</h2><img src="${esc(r.metricPlotFile)}" alt="metrics over steps" class="plot">
<table><tr><th>metric</th><th>first</th><th>last</th></tr>
${metrics}</table>
`;
  const grids = [
    `<figure><img src="${esc(r.realFile)}" alt="real images"><figcaption>real data</figcaption></figure>`,
    ...r.samples.map(
      (s) =>
        `<figure><img src="${esc(s.file)}" alt="samples at step ${s.step}"><figcaption>step ${s.step}</figcaption></figure>`,
    ),
  ].join('\n');
  const differences = configDifferences(r.config, r.parsed)
    .map(
      (d) =>
        `<tr><td>${esc(d.key)}</td><td>${d.given === undefined ? '(default)' : json(d.given)}</td><td>${json(d.value)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}figure{display:inline-block;margin:0 1em 1em 0}
img{image-rendering:pixelated;width:272px}img.plot{width:auto;image-rendering:auto}table{border-collapse:collapse;margin-bottom:1em}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>${esc(r.title)}</h1>
<p>${steps} steps in ${seconds.toFixed(1)} s of training (${rate(steps, seconds)}) over ${r.parts.length} part${r.parts.length === 1 ? '' : 's'}; data: ${esc(r.dataset)}.</p>
<p>genloss ${esc(r.versions.genloss)}, TF.js ${esc(r.versions.tfjs)}, backend ${esc(r.versions.backend)}.</p>
<table><tr><th>part</th><th>started</th><th>steps</th><th>wall time</th><th>speed</th><th>backend</th><th>ended</th></tr>
${parts}</table>
<h2>Time per phase</h2>
<table><tr><th>phase</th><th>wall time</th><th>share</th></tr>
${phases}</table>
<h2>Losses</h2><img src="${esc(r.plotFile)}" alt="losses over steps" class="plot">
<table><tr><th>key</th><th>first ${tenth} logged steps</th><th>last ${tenth} logged steps</th></tr>
${rows}</table>
${metricSection}<h2>Samples (fixed noise) beside real data</h2>
${grids}
<h2>Config</h2><pre>${esc(YAML.stringify(r.config))}</pre>
<h3>Defaulted or parsed differently</h3>
<table><tr><th>key</th><th>given</th><th>value</th></tr>
${differences}</table>
</body></html>
`;
}
