import type { ScalarRow } from '../node/run-files.ts';

const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / count));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) ?? step * 10;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / unit) * unit; t <= hi + 1e-12; t += unit)
    ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

/** At most `limit` points: consecutive runs of points averaged into one. */
function downsample(points: (readonly [number, number])[], limit: number) {
  if (points.length <= limit) return points;
  const per = points.length / limit;
  return Array.from({ length: limit }, (_, i) => {
    const run = points.slice(Math.floor(i * per), Math.floor((i + 1) * per));
    const mean = (k: 0 | 1) => run.reduce((s, p) => s + p[k], 0) / run.length;
    return [mean(0), mean(1)] as const;
  });
}

/**
 * An SVG chart of every logged loss over steps, from the scalar log's rows: one small panel per
 * key (its own y-range, so a penalty of 10 and a shift of 1e-4 are both readable), each a
 * polyline of the logged values and a thicker moving average over `smoothing` rows (default a
 * twentieth of them). A long run is averaged down to `maxPoints` points per key, so the file stays
 * small whatever the run's length. Plain SVG text: no plotting library, no DOM, no canvas.
 */
export function lossPlotSvg(
  rows: readonly ScalarRow[],
  smoothing?: number,
  maxPoints = 1000,
): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter(
    (k) => k !== 'step' && k !== 'skipped',
  );
  const panelW = 360;
  const panelH = 180;
  const cols = 2;
  const pad = { l: 56, r: 12, t: 24, b: 28 };
  const width = cols * panelW;
  const height = Math.ceil(keys.length / cols) * panelH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  keys.forEach((key, k) => {
    const points = downsample(
      rows.filter((r) => Number.isFinite(r[key])).map((r) => [r.step, r[key]] as const),
      maxPoints,
    );
    const ox = (k % cols) * panelW;
    const oy = Math.floor(k / cols) * panelH;
    const colour = PALETTE[k % PALETTE.length];
    parts.push(`<text x="${ox + pad.l}" y="${oy + 16}" font-weight="bold">${esc(key)}</text>`);
    if (points.length === 0) return;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const sx = (x: number) => ox + pad.l + ((x - x0) / (x1 - x0 || 1)) * (panelW - pad.l - pad.r);
    const sy = (y: number) =>
      oy + panelH - pad.b - ((y - y0) / (y1 - y0 || 1)) * (panelH - pad.t - pad.b);
    for (const t of niceTicks(y0, y1, 4)) {
      parts.push(
        `<line x1="${ox + pad.l}" x2="${ox + panelW - pad.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#eee"/>`,
        `<text x="${ox + pad.l - 4}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" fill="#555">${t}</text>`,
      );
    }
    for (const t of niceTicks(x0, x1, 4)) {
      parts.push(
        `<text x="${sx(t).toFixed(1)}" y="${oy + panelH - 10}" text-anchor="middle" fill="#555">${t}</text>`,
      );
    }
    const line = (pts: (readonly [number, number])[]) =>
      pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${line(points)}" fill="none" stroke="${colour}" stroke-opacity="0.35" stroke-width="1"/>`,
    );
    const span = smoothing ?? Math.max(1, Math.round(points.length / 20));
    const smooth = points.map(([x], i) => {
      const window = ys.slice(Math.max(0, i - span + 1), i + 1);
      return [x, window.reduce((a, b) => a + b, 0) / window.length] as const;
    });
    parts.push(
      `<polyline points="${line(smooth)}" fill="none" stroke="${colour}" stroke-width="2"/>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
