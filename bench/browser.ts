/**
 * The browser benchmark (`npm run bench:browser`): bench/browser-page.ts's workloads (element-wise
 * losses, a WGAN-GP discriminator step, the demo's training step) timed in headless Chromium on
 * wasm single-threaded (Chromium with `@sparticuz/chromium`'s flags, `--single-process`: not
 * cross-origin isolated, so TF.js loads its SIMD binary), wasm threaded (Chromium without
 * `--single-process`: cross-origin isolated, TF.js's threaded SIMD binary) and webgl
 * (SwiftShader, software), and on Node (genloss's `wasm` backend) in the same run. Writes
 * bench/browser-results.md: median and min–max of the timed steps per workload and backend, and
 * the ratio of each median to Node's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
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
import './test/browser/wasm-paths.ts';
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
  const detail =
    backend === 'wasm'
      ? ` (${await page.evaluate(() => (globalThis as unknown as { benchPage: Api }).benchPage.threads())} thread(s), crossOriginIsolated ${await page.evaluate(() => globalThis.crossOriginIsolated)})`
      : '';
  return {
    title: `${title}${detail}`,
    backend,
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
    const columns: Column[] = [
      { title: 'Node wasm', backend: 'wasm', time: (name) => timeWorkload(name, demo) },
      await pageColumn(single, server.url, 'wasm', 'Chromium wasm'),
      await pageColumn(isolated, server.url, 'wasm', 'Chromium wasm'),
      await pageColumn(isolated, server.url, 'webgl', 'Chromium webgl (SwiftShader)'),
    ];
    const rows: string[] = [];
    for (const w of BROWSER_WORKLOADS) {
      const cells: string[] = [];
      let node = 0;
      for (const [k, column] of columns.entries()) {
        if (column.backend === 'webgl' && w.notOnWebgl) {
          cells.push(`not run: ${w.notOnWebgl}`);
          continue;
        }
        const t = await column.time(w.name);
        if (t.leaked > 0) throw new Error(`${column.title}: ${w.name} left ${t.leaked} tensors`);
        const m = median(t.times_ms);
        if (k === 0) node = m;
        const range = `${ms(Math.min(...t.times_ms))}–${ms(Math.max(...t.times_ms))}`;
        cells.push(`${ms(m)} [${range}]${k === 0 ? '' : ` ${(m / node).toFixed(2)}×`}`);
        console.log(`${w.name} on ${column.title}: ${cells[k]}`);
      }
      rows.push(`| ${w.name} | ${w.shape} | ${w.repeats} | ${cells.join(' | ')} |`);
    }
    const text = [
      '# Browser benchmark',
      '',
      `Made by \`npm run bench:browser\` (bench/browser.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus()[0]?.model ?? 'CPU'}, ${availableParallelism()} logical cores, Node ${process.version}, headless ${version} (@sparticuz/chromium), TF.js 4.22.`,
      '',
      'Times: median [min–max] in ms of the timed steps (after warm-up steps, which compile shaders and warm the wasm code); a step computes the loss, its gradients, and reads the loss. The ratio is the median over Node’s. Workloads: bench/browser-page.ts. Chromium wasm with one thread runs with @sparticuz/chromium’s flags (`--single-process`: not cross-origin isolated, so TF.js loads its SIMD binary); the threaded column runs without `--single-process`, cross-origin isolated, on TF.js’s threaded SIMD binary (whose XNNPACK pool, `getThreadsCount()`, has 1 thread on this 2-core machine, with or without `setThreadsCount`). WebGL is SwiftShader (software) in this headless Chromium; a GPU would change that column entirely.',
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
