import YAML from 'yaml';
import type { HistoryRow } from '../train/trainer.ts';

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** What the HTML report shows. */
export interface ReportInput {
  title: string;
  config: unknown;
  backend: string;
  dataset: string;
  history: readonly HistoryRow[];
  /** Sample grids, oldest first: step and path relative to the report. */
  samples: { step: number; file: string }[];
  plotFile: string;
  wallSeconds: number;
}

function meanOver(rows: readonly HistoryRow[], key: string): number {
  const vals = rows.map((r) => r.log[key]).filter(Number.isFinite);
  return vals.reduce((a, b) => a + b, 0) / (vals.length || 1);
}

/**
 * A self-contained HTML report of a training run: the config, the loss plot, the sample grids over
 * the run, and the mean of each loss over the first and the last tenth of the steps.
 */
export function reportHtml(r: ReportInput): string {
  const keys = [...new Set(r.history.flatMap((h) => Object.keys(h.log)))];
  const tenth = Math.max(1, Math.floor(r.history.length / 10));
  const first = r.history.slice(0, tenth);
  const last = r.history.slice(-tenth);
  const steps = r.history.length ? r.history[r.history.length - 1].step : 0;
  const rows = keys
    .map(
      (k) =>
        `<tr><td>${esc(k)}</td><td>${meanOver(first, k).toPrecision(5)}</td><td>${meanOver(last, k).toPrecision(5)}</td></tr>`,
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
img{image-rendering:pixelated;width:272px}table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>${esc(r.title)}</h1>
<p>${steps} steps in ${r.wallSeconds.toFixed(1)} s (${(steps / Math.max(r.wallSeconds, 1e-9)).toFixed(2)} steps/s) on the <b>${esc(r.backend)}</b> backend; data: ${esc(r.dataset)}.</p>
<h2>Losses</h2><img src="${esc(r.plotFile)}" alt="losses over steps" style="width:auto;image-rendering:auto">
<table><tr><th>key</th><th>first ${tenth} steps</th><th>last ${tenth} steps</th></tr>
${rows}</table>
<h2>Samples (fixed noise)</h2>
${grids}
<h2>Config</h2><pre>${esc(YAML.stringify(r.config))}</pre>
</body></html>
`;
}
