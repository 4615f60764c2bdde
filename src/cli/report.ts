import YAML from 'yaml';
import type { ScalarRow } from '../node/run-files.ts';
import type { RunPart } from './run-record.ts';

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** What the HTML report shows. */
export interface ReportInput {
  title: string;
  config: unknown;
  dataset: string;
  /** The scalar log's rows, oldest first. */
  rows: readonly ScalarRow[];
  /** Every sample grid of the run, oldest first: step and path relative to the report. */
  samples: readonly { step: number; file: string }[];
  plotFile: string;
  /** The run's parts, one per start or resume (see `RunPart`). */
  parts: readonly RunPart[];
}

function meanOver(rows: readonly ScalarRow[], key: string): number {
  const vals = rows.map((r) => r[key]).filter(Number.isFinite);
  return vals.reduce((a, b) => a + b, 0) / (vals.length || 1);
}

const rate = (steps: number, seconds: number) =>
  seconds > 0 ? `${(steps / seconds).toFixed(2)} steps/s` : '–';

/**
 * A self-contained HTML report of a whole training run, over every resume: total steps and wall
 * time, a table of the run's parts (start, steps, wall time, speed, backend, how each ended), the
 * loss plot, the mean of each logged loss over the first and the last tenth of the log, every
 * sample grid, and the config.
 */
export function reportHtml(r: ReportInput): string {
  const keys = [...new Set(r.rows.flatMap((h) => Object.keys(h)))].filter((k) => k !== 'step');
  const tenth = Math.max(1, Math.floor(r.rows.length / 10));
  const first = r.rows.slice(0, tenth);
  const last = r.rows.slice(-tenth);
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
  const grids = r.samples
    .map(
      (s) =>
        `<figure><img src="${esc(s.file)}" alt="samples at step ${s.step}"><figcaption>step ${s.step}</figcaption></figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}figure{display:inline-block;margin:0 1em 1em 0}
img{image-rendering:pixelated;width:272px}table{border-collapse:collapse;margin-bottom:1em}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>${esc(r.title)}</h1>
<p>${steps} steps in ${seconds.toFixed(1)} s of training (${rate(steps, seconds)}) over ${r.parts.length} part${r.parts.length === 1 ? '' : 's'}; data: ${esc(r.dataset)}.</p>
<table><tr><th>part</th><th>started</th><th>steps</th><th>wall time</th><th>speed</th><th>backend</th><th>ended</th></tr>
${parts}</table>
<h2>Losses</h2><img src="${esc(r.plotFile)}" alt="losses over steps" style="width:auto;image-rendering:auto">
<table><tr><th>key</th><th>first ${tenth} logged steps</th><th>last ${tenth} logged steps</th></tr>
${rows}</table>
<h2>Samples (fixed noise)</h2>
${grids}
<h2>Config</h2><pre>${esc(YAML.stringify(r.config))}</pre>
</body></html>
`;
}
