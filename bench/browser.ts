/**
 * The browser benchmark (`npm run bench:browser`): bench/browser-page.ts's workloads (element-wise
 * losses, a WGAN-GP discriminator step, the demo's training step) timed in headless Chromium on
 * wasm single-threaded (Chromium with `@sparticuz/chromium`'s flags, `--single-process`: not
 * cross-origin isolated, so TF.js loads its SIMD binary), on TF.js's threaded SIMD binary
 * (Chromium without `--single-process`: cross-origin isolated) with 1 thread
 * (`?wasm-threads=1`, read by scripts/page-wasm.ts) and with a thread per logical core, and on
 * webgl (SwiftShader, software), and on Node (genloss's `wasm` backend) in the same run. Writes
 * bench/browser-results.md: median and min–max of the timed steps per workload and backend, the
 * ratio of each median to Node's, that of the threaded binary's all-core median to its 1-thread
 * one, the machine's load (`os.loadavg()`) before and after, and whether threads were faster.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import type { Browser, Page } from 'puppeteer-core';
import { parse } from 'yaml';
import { launchChromium } from '../scripts/chromium.ts';
import { serveIsolated } from '../scripts/isolated-server.ts';
import { chooseBackend } from '../src/index.ts';
import { BROWSER_WORKLOADS, type DemoConfig, type Timing, timeWorkload } from './browser-page.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const demo = parse(readFileSync(join(root, 'configs/demo.yaml'), 'utf8')) as DemoConfig;

/** The page: the wasm paths first (before genloss starts a backend), then the workloads. */
const ENTRY = `
import './scripts/page-wasm.ts';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { chooseBackend } from './src/index.ts';
import { timeWorkload } from './bench/browser-page.ts';
globalThis.benchPage = { chooseBackend, timeWorkload, threads: () => getThreadsCount() };
`;

/**
 * bench/workloads.ts imports `node:fs` for its `demo_step` (which reads configs/demo.yaml and
 * which the page does not run; bench/browser-page.ts has its own demo step): in the page,
 * `readFileSync` throws.
 */
const pageNodeFs: Plugin = {
  name: 'page-node-fs',
  setup(b) {
    b.onResolve({ filter: /^node:fs$/ }, () => ({ path: 'node:fs', namespace: 'page-node-fs' }));
    b.onLoad({ filter: /.*/, namespace: 'page-node-fs' }, () => ({
      contents: "export function readFileSync() { throw new Error('no node:fs in the page'); }",
      loader: 'js',
    }));
  },
};

/** A column of the table: where it runs and how to time a workload there. */
interface Column {
  title: string;
  backend: string;
  /** The wasm backend's thread count (`getThreadsCount()`), where it runs wasm. */
  threads?: number;
  /** The column each median is also divided by. */
  against?: Column;
  time: (name: string) => Promise<Timing>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** A column timed in a page of `browser` on `backend`; the title gets the page's thread count. */
async function pageColumn(
  browser: Browser,
  url: string,
  backend: string,
  title: string,
  against?: Column,
): Promise<Column> {
  const page: Page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => 'benchPage' in globalThis);
  type Api = {
    chooseBackend(b: string): Promise<string>;
    timeWorkload(n: string, d: DemoConfig): Promise<Timing>;
    threads(): number;
  };
  const active = await page.evaluate(
    (b) => (globalThis as unknown as { benchPage: Api }).benchPage.chooseBackend(b),
    backend,
  );
  if (active !== backend) throw new Error(`${title}: the page runs ${active}, not ${backend}`);
  const threads =
    backend === 'wasm'
      ? await page.evaluate(() => (globalThis as unknown as { benchPage: Api }).benchPage.threads())
      : undefined;
  const isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
  const detail =
    threads === undefined
      ? ''
      : ` (${threads} thread${threads === 1 ? '' : 's'}, crossOriginIsolated ${isolated})`;
  return {
    title: `${title}${detail}`,
    backend,
    threads,
    against,
    time: async (name) => {
      const t = await page.evaluate(
        (n, d) => (globalThis as unknown as { benchPage: Api }).benchPage.timeWorkload(n, d),
        name,
        demo,
      );
      if (errors.length > 0) throw new Error(`${title}: ${errors.join('; ')}`);
      return t;
    },
  };
}

async function main(): Promise<void> {
  const bundled = await build({
    stdin: { contents: ENTRY, resolveDir: root, sourcefile: 'bench-page.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [pageNodeFs],
  });
  const server = await serveIsolated({
    '/': '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>',
    '/page.js': bundled.outputFiles[0].text,
    '/wasm/': { dir: join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist') },
  });
  const single = await launchChromium();
  const isolated = await launchChromium({ isolated: true });
  const version = await isolated.version();
  try {
    await chooseBackend('wasm');
    const node: Column = {
      title: 'Node wasm',
      backend: 'wasm',
      time: (name) => timeWorkload(name, demo),
    };
    const threaded = 'Chromium wasm threaded SIMD';
    const oneThread = await pageColumn(isolated, `${server.url}?wasm-threads=1`, 'wasm', threaded);
    const allThreads = await pageColumn(isolated, server.url, 'wasm', threaded, oneThread);
    const columns = [
      node,
      await pageColumn(single, server.url, 'wasm', 'Chromium wasm SIMD'),
      oneThread,
      allThreads,
      await pageColumn(isolated, server.url, 'webgl', 'Chromium webgl (SwiftShader)'),
    ];
    const load = [loadavg()[0]];
    /** Per workload, the all-thread median over the 1-thread one. */
    const speedups: number[] = [];
    const rows: string[] = [];
    for (const w of BROWSER_WORKLOADS) {
      const cells: string[] = [];
      const medians = new Map<Column, number>();
      for (const column of columns) {
        if (column.backend === 'webgl' && w.notOnWebgl) {
          cells.push(`not run: ${w.notOnWebgl}`);
          continue;
        }
        const t = await column.time(w.name);
        if (t.leaked > 0) throw new Error(`${column.title}: ${w.name} left ${t.leaked} tensors`);
        const m = median(t.times_ms);
        medians.set(column, m);
        const range = `${ms(Math.min(...t.times_ms))}–${ms(Math.max(...t.times_ms))}`;
        const ratio = (to: Column) => `${(m / (medians.get(to) as number)).toFixed(2)}×`;
        const vsNode = column === node ? '' : ` ${ratio(node)}`;
        const vs = column.against
          ? `, ${ratio(column.against)} of ${column.against.threads} thread's`
          : '';
        cells.push(`${ms(m)} [${range}]${vsNode}${vs}`);
        console.log(`${w.name} on ${column.title}: ${cells.at(-1)}`);
      }
      speedups.push((medians.get(oneThread) as number) / (medians.get(allThreads) as number));
      rows.push(`| ${w.name} | ${w.shape} | ${w.repeats} | ${cells.join(' | ')} |`);
    }
    load.push(loadavg()[0]);
    const faster = speedups.filter((x) => x > 1).length;
    const verdict =
      `With ${allThreads.threads} threads, the threaded binary was faster than with ${oneThread.threads} on ${faster} of ${speedups.length} workloads ` +
      `(speed-ups ${speedups.map((x) => `${x.toFixed(2)}×`).join(', ')}, in table order).` +
      (Math.max(...load) >= availableParallelism()
        ? ` The load average reached ${Math.max(...load).toFixed(2)} on ${availableParallelism()} cores: the threads competed with other processes for the cores, so this run does not show what threads give on idle ones.`
        : '');
    const text = [
      '# Browser benchmark',
      '',
      `Made by \`npm run bench:browser\` (bench/browser.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} logical cores, load average (1 min) ${load.map((x) => x.toFixed(2)).join(' at the start, ')} at the end, Node ${process.version}, headless ${version} (@sparticuz/chromium), TF.js 4.22.`,
      '',
      'Times: median [min–max] in ms of the timed steps (after warm-up steps, which compile shaders and warm the wasm code); a step computes the loss, its gradients, and reads the loss. The ratio is the median over Node’s. Workloads: bench/browser-page.ts. Chromium wasm SIMD runs with @sparticuz/chromium’s flags (`--single-process`: not cross-origin isolated, so TF.js loads its single-threaded SIMD binary); the threaded columns run without `--single-process`, cross-origin isolated, on TF.js’s threaded SIMD binary, with its XNNPACK pool (`getThreadsCount()`) at 1 thread (`?wasm-threads=1`) and at a thread per logical core (scripts/page-wasm.ts lifts TF.js’s cap of `navigator.hardwareConcurrency / 2`); the last one is also divided by the 1-thread one. WebGL is SwiftShader (software) in this headless Chromium; a GPU would change that column entirely.',
      '',
      verdict,
      '',
      `| workload | shape | steps | ${columns.map((c) => c.title).join(' | ')} |`,
      `|---|---|---|${columns.map(() => '---').join('|')}|`,
      ...rows,
      '',
    ].join('\n');
    writeFileSync(join(root, 'bench/browser-results.md'), text);
    console.log(text);
  } finally {
    await single.close();
    await isolated.close();
    await server.close();
  }
}

await main();
