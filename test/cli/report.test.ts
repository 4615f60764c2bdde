/**
 * The pieces of `genloss train`'s output as pure functions: the progress line that fits the
 * terminal, the long-run warning, the phase timer, the config differences, the plots and the
 * report's content.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lossPlotSvg, metricPlotSvg } from '../../src/cli/plot.ts';
import { configDifferences, type ReportInput, reportHtml } from '../../src/cli/report.ts';
import type { RunPart } from '../../src/cli/run-record.ts';
import { fitProgressLine, formatDuration, longRunWarning } from '../../src/cli/train.ts';
import type { ScalarRow } from '../../src/node/run-files.ts';
import { PhaseTimer } from '../../src/train/phase-timer.ts';

const HEAD = ['step 120/6000', '2.31 it/s', 'ETA 42 min 25 s'];
const ENTRIES = [
  'loss 3.0505',
  'loss_disc_fake 1.1259',
  'loss_disc_real 1.8849',
  'loss_r1_gp 0.0387',
  'loss_disc_shift 1.06e-3',
  'loss_disc_fake_g 0.0952',
  'loss_path_regular 0.6382',
];

/** The entries a fitted line kept, and the count it says it left out. */
function shown(line: string): { kept: string[]; more: number } {
  const tail = line.split(' | ').slice(HEAD.length).join(' | ');
  const more = Number(/ ?\+(\d+) more$/.exec(tail)?.[1] ?? 0);
  const kept = ENTRIES.filter((e) => tail.includes(e));
  return { kept, more };
}

describe('the progress line', () => {
  test('at 80 columns: the head, whole entries in order, and +N more for the rest', () => {
    const line = fitProgressLine(HEAD, ENTRIES, 80);
    assert.ok(line.length <= 80, `${line.length}: ${line}`);
    assert.ok(line.startsWith(`${HEAD.join(' | ')} | loss 3.0505`), line);
    const { kept, more } = shown(line);
    assert.deepEqual(kept, ENTRIES.slice(0, kept.length), 'a prefix, in the given order');
    assert.equal(kept.length + more, ENTRIES.length);
    assert.ok(more > 0);
    // No number is cut: every number on the line is one of the entries' (or the head's) whole.
    const numbers = line.replace(/\+\d+ more$/, '').match(/-?[\d.]+(e-?\d+)?/g) ?? ([] as string[]);
    const whole = [...HEAD, ...ENTRIES].join(' ').match(/-?[\d.]+(e-?\d+)?/g) ?? ([] as string[]);
    for (const n of numbers) assert.ok(whole.includes(n), `${n} is cut`);
  });

  test('at 40 columns: head segments go before the line is cut', () => {
    const line = fitProgressLine(HEAD, ENTRIES, 40);
    assert.ok(line.length <= 40, `${line.length}: ${line}`);
    assert.equal(line, 'step 120/6000 | 2.31 it/s | +7 more');
  });

  test('everything fits on a wide terminal; the first segment stays on a narrow one', () => {
    assert.equal(fitProgressLine(HEAD, ENTRIES, 500), [...HEAD, ENTRIES.join(' ')].join(' | '));
    assert.equal(fitProgressLine(HEAD, ENTRIES, 5), 'step 120/6000');
    assert.equal(fitProgressLine(HEAD, [], 80), HEAD.join(' | '));
  });
});

describe('the long-run warning', () => {
  test('warns with the estimate when the steps left take over 5 minutes', () => {
    assert.equal(
      longRunWarning(5, 10, 1000),
      'genloss train: estimated 33 min 20 s for 1000 more steps at 0.50 it/s (Ctrl-C stops with a checkpoint; --resume goes on)',
    );
    assert.match(longRunWarning(5, 1, 20_000) ?? '', /estimated 1 h 6 min for 20000 more steps/);
  });

  test('says nothing for a short run, or under a limit of its own', () => {
    assert.equal(longRunWarning(5, 1, 1000), null, '200 s');
    assert.equal(longRunWarning(5, 10, 1000, 3600), null);
  });

  test('durations read as seconds, minutes or hours', () => {
    assert.deepEqual([0.4, 59.4, 60, 845, 3600, 7380].map(formatDuration), [
      '0 s',
      '59 s',
      '1 min 0 s',
      '14 min 5 s',
      '1 h 0 min',
      '2 h 3 min',
    ]);
  });
});

describe('PhaseTimer', () => {
  /** A clock that moves only when told. */
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  test('sync and async phases; a nested phase is counted once, in itself', async () => {
    const c = clock();
    const timer = new PhaseTimer(c.now);
    const out = timer.time('G step', () => {
      c.advance(10);
      timer.time('regularisers', () => c.advance(4));
      return 'log';
    });
    assert.equal(out, 'log');
    await timer.time('I/O', async () => {
      await Promise.resolve();
      c.advance(7);
    });
    timer.time('G step', () => c.advance(1));
    assert.deepEqual(timer.totals(), { 'G step': 11, regularisers: 4, 'I/O': 7 });
  });

  test('a phase that throws or rejects is counted, and the error passes through', async () => {
    const c = clock();
    const timer = new PhaseTimer(c.now);
    assert.throws(
      () =>
        timer.time('D step', () => {
          c.advance(3);
          throw new Error('bad step');
        }),
      /bad step/,
    );
    await assert.rejects(
      timer.time('I/O', async () => {
        c.advance(2);
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.deepEqual(timer.totals(), { 'D step': 3, 'I/O': 2 });
  });
});

describe('config differences', () => {
  test('lists defaulted keys and values parsed differently, by dotted path', () => {
    const raw = {
      model: { lr: '1e-3', losses: [{ type: 'A' }, { type: 'B', w: 2 }] },
      train: { iters: 5 },
    };
    const parsed = {
      custom_imports: [],
      model: {
        lr: 0.001,
        losses: [
          { type: 'A', w: 1 },
          { type: 'B', w: 2 },
        ],
        opt: undefined,
      },
      train: { iters: 5, batch_size: 16 },
    };
    assert.deepEqual(configDifferences(raw, parsed), [
      { key: 'custom_imports', value: [] },
      { key: 'model.lr', given: '1e-3', value: 0.001 },
      { key: 'model.losses[0].w', value: 1 },
      { key: 'train.batch_size', value: 16 },
    ]);
    assert.deepEqual(configDifferences(parsed, parsed), []);
  });
});

const ROWS: ScalarRow[] = [
  { step: 0, 'metric/swd': 0.9, 'metric/swd_floor': 0.05 },
  { step: 1, loss: 3, loss_disc_fake: 1.1 },
  { step: 2, loss: 2.5, loss_disc_fake: 1 },
  { step: 2, 'metric/swd': 0.4, 'metric/swd_floor': 0.05 },
];

describe('plots', () => {
  test('the loss plot: one panel a loss, with a legend and labelled axes, no metric', () => {
    const svg = lossPlotSvg(ROWS);
    for (const text of ['>loss<', '>loss_disc_fake<', '>step<', '>logged (interval mean)<'])
      assert.ok(svg.includes(text), text);
    assert.match(svg, />moving mean of 1 row</);
    assert.ok(!svg.includes('metric/'));
    assert.equal(svg.match(/>step</g)?.length, 2, 'an x-axis label a panel');
  });

  test('the metric plot: a panel a metric, the SWD floor dashed beside SWD; none without metrics', () => {
    const svg = metricPlotSvg(ROWS) ?? '';
    assert.ok(svg.includes('>metric/swd<') && svg.includes('>step<'));
    assert.ok(svg.includes('>real-vs-real floor<'), 'legend names the floor');
    assert.equal(svg.match(/<polyline [^>]*stroke-dasharray/g)?.length, 1, 'the floor, dashed');
    assert.ok(!svg.includes('>metric/swd_floor<'), 'no panel of its own');
    assert.equal(metricPlotSvg(ROWS.filter((r) => !('metric/swd' in r))), null);
  });
});

describe('the report', () => {
  const part = (start: number, end: number, phases: Record<string, number>): RunPart => ({
    started_at: '2026-01-01T00:00:00.000Z',
    start_step: start,
    end_step: end,
    seconds: 10,
    backend: 'wasm',
    ended: 'finished',
    phase_seconds: phases,
  });
  const input: ReportInput = {
    title: 'genloss train demo.yaml',
    config: { train: { iters: 2 } },
    parsed: { train: { iters: 2, batch_size: 16 } },
    dataset: 'shapes',
    rows: ROWS,
    samples: [{ step: 2, file: 'samples/step_000002.png' }],
    realFile: 'samples/real.png',
    plotFile: 'losses.svg',
    metricPlotFile: 'metrics.svg',
    parts: [
      part(0, 1, { 'I/O': 1, 'D step': 2, 'G step': 3 }),
      part(1, 2, { 'D step': 2.5, regularisers: 1 }),
    ],
    versions: { genloss: '0.1.0', tfjs: '4.22.0', backend: 'wasm' },
  };
  const html = reportHtml(input);

  test('real data beside the samples, both plots, versions and backend', () => {
    assert.match(html, /<img src="samples\/real\.png" alt="real images"><figcaption>real data/);
    assert.ok(html.indexOf('samples/real.png') < html.indexOf('samples/step_000002.png'));
    assert.match(html, /<img src="losses\.svg"/);
    assert.match(html, /<img src="metrics\.svg"/);
    assert.match(html, /<td>metric\/swd<\/td><td>0\.90000 \(step 0\)<\/td><td>0\.40000 \(step 2\)/);
    assert.match(html, /genloss 0\.1\.0, TF\.js 4\.22\.0, backend wasm/);
    assert.ok(!reportHtml({ ...input, metricPlotFile: null }).includes('metrics.svg'));
  });

  test('the phases summed over the parts, in step order, and the rest as other', () => {
    const phases = [...html.matchAll(/<tr><td>([^<]+)<\/td><td>([\d.]+) s<\/td><td>[\d.]+ %/g)];
    assert.deepEqual(
      phases.map((m) => [m[1], m[2]]),
      [
        ['D step', '4.50'],
        ['regularisers', '1.00'],
        ['G step', '3.00'],
        ['I/O', '1.00'],
        ['other (data, logging, the loop)', '10.50'],
      ],
    );
  });

  test('the config as given, and the keys defaulted', () => {
    assert.match(html, /<h2>Config<\/h2><pre>train:\n {2}iters: 2\n<\/pre>/);
    assert.match(html, /<tr><td>train\.batch_size<\/td><td>\(default\)<\/td><td>16<\/td><\/tr>/);
  });
});
