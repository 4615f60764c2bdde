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

/** One line of a panel: its points, legend label and stroke. */
interface Series {
  label: string;
  points: readonly (readonly [number, number])[];
  colour: string;
  width: number;
  opacity?: number;
  dashed?: boolean;
}

const PANEL = { w: 360, h: 200, cols: 2 };
const PAD = { l: 64, r: 12, t: 36, b: 44 };

/**
 * One panel at (`ox`, `oy`): title, grid, tick labels, the axis labels (`step` below, `yLabel`
 * along the left), the series, and a legend naming each series at the top right.
 */
function panel(ox: number, oy: number, title: string, yLabel: string, series: Series[]): string[] {
  const parts = [`<text x="${ox + PAD.l}" y="${oy + 16}" font-weight="bold">${esc(title)}</text>`];
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return parts;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const bottom = oy + PANEL.h - PAD.b;
  const sx = (x: number) => ox + PAD.l + ((x - x0) / (x1 - x0 || 1)) * (PANEL.w - PAD.l - PAD.r);
  const sy = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * (PANEL.h - PAD.t - PAD.b);
  for (const t of niceTicks(y0, y1, 4)) {
    parts.push(
      `<line x1="${ox + PAD.l}" x2="${ox + PANEL.w - PAD.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${ox + PAD.l - 4}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" fill="#555">${t}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 4)) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#555">${t}</text>`,
    );
  }
  const midY = (oy + PAD.t + bottom) / 2;
  parts.push(
    `<text x="${ox + PAD.l + (PANEL.w - PAD.l - PAD.r) / 2}" y="${bottom + 30}" text-anchor="middle" fill="#333">step</text>`,
    `<text x="${ox + 12}" y="${midY}" text-anchor="middle" fill="#333" transform="rotate(-90 ${ox + 12} ${midY})">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const dash = s.dashed ? ' stroke-dasharray="5 4"' : '';
    const opacity = s.opacity === undefined ? '' : ` stroke-opacity="${s.opacity}"`;
    const line = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${line}" fill="none" stroke="${s.colour}" stroke-width="${s.width}"${opacity}${dash}/>`,
    );
    const lx = ox + PANEL.w - PAD.r - 150;
    const ly = oy + 12 + i * 13;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.colour}" stroke-width="${s.width}"${opacity}${dash}/>`,
      `<text x="${lx + 22}" y="${ly}" fill="#333">${esc(s.label)}</text>`,
    );
  });
  return parts;
}

/** An SVG of panels, two a row. */
function panels(count: number, draw: (ox: number, oy: number, i: number) => string[]): string {
  const width = PANEL.cols * PANEL.w;
  const height = Math.ceil(count / PANEL.cols) * PANEL.h;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  for (let i = 0; i < count; i++) {
    parts.push(...draw((i % PANEL.cols) * PANEL.w, Math.floor(i / PANEL.cols) * PANEL.h, i));
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The prefix of the scalar log's metric keys (`metric/swd`), which the loss plot leaves out. */
export const METRIC_PREFIX = 'metric/';

/** The key of the real-vs-real floor drawn with `metric/swd`. */
const SWD_FLOOR = 'metric/swd_floor';

const keysOf = (rows: readonly ScalarRow[]) => [...new Set(rows.flatMap((r) => Object.keys(r)))];

const pointsOf = (rows: readonly ScalarRow[], key: string, maxPoints: number) =>
  downsample(
    rows.filter((r) => Number.isFinite(r[key])).map((r) => [r.step, r[key]] as const),
    maxPoints,
  );

/**
 * An SVG chart of every logged loss over steps, from the scalar log's rows (metric keys left
 * out: see {@link metricPlotSvg}): one small panel per key (its own y-range, so a penalty of 10
 * and a shift of 1e-4 are both readable), each a thin line of the logged values and a thicker
 * moving average over `smoothing` rows (default a twentieth of them), with a legend and the axes
 * labelled (`step`, the key). A long run is averaged down to `maxPoints` points per key, so the
 * file stays small whatever the run's length. Plain SVG text: no plotting library, no DOM, no
 * canvas.
 */
export function lossPlotSvg(
  rows: readonly ScalarRow[],
  smoothing?: number,
  maxPoints = 1000,
): string {
  const keys = keysOf(rows).filter(
    (k) => k !== 'step' && k !== 'skipped' && !k.startsWith(METRIC_PREFIX),
  );
  return panels(keys.length, (ox, oy, k) => {
    const key = keys[k];
    const points = pointsOf(rows, key, maxPoints);
    const colour = PALETTE[k % PALETTE.length];
    const span = smoothing ?? Math.max(1, Math.round(points.length / 20));
    const smooth = points.map(([x], i) => {
      const window = points.slice(Math.max(0, i - span + 1), i + 1);
      return [x, window.reduce((a, p) => a + p[1], 0) / window.length] as const;
    });
    return panel(ox, oy, key, key, [
      { label: 'logged (interval mean)', points, colour, width: 1, opacity: 0.35 },
      {
        label: `moving mean of ${span} row${span === 1 ? '' : 's'}`,
        points: smooth,
        colour,
        width: 2,
      },
    ]);
  });
}

/**
 * An SVG chart of the quality metrics over steps (the scalar log's `metric/` keys, one panel
 * each, with a legend and the axes labelled), or null when the log holds none.
 * `metric/swd_floor`, the sliced Wasserstein distance between two sets of real images, is drawn
 * dashed in the `metric/swd` panel: the value a generator matching the data would reach.
 */
export function metricPlotSvg(rows: readonly ScalarRow[], maxPoints = 1000): string | null {
  const keys = keysOf(rows).filter((k) => k.startsWith(METRIC_PREFIX) && k !== SWD_FLOOR);
  if (keys.length === 0) return null;
  return panels(keys.length, (ox, oy, k) => {
    const key = keys[k];
    const colour = PALETTE[k % PALETTE.length];
    const series: Series[] = [
      {
        label: key.slice(METRIC_PREFIX.length),
        points: pointsOf(rows, key, maxPoints),
        colour,
        width: 2,
      },
    ];
    if (key === 'metric/swd') {
      const floor = pointsOf(rows, SWD_FLOOR, maxPoints);
      series.push({
        label: 'real-vs-real floor',
        points: floor,
        colour: '#555',
        width: 1.5,
        dashed: true,
      });
    }
    return panel(ox, oy, key, key.slice(METRIC_PREFIX.length), series);
  });
}
