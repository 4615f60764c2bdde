/**
 * The playground (`npm run playground`, scripts/playground.ts) in headless Chromium, as a person
 * uses it: the page loads with the shipped configs; an invalid edit lists the CLI's message at
 * its key and highlights that key's line; the demo config (configs/demo.yaml made small) trains
 * on wasm with the speed and the backend shown, and its sample grid is drawn (the canvas's
 * pixels are read, not only the DOM); the checkpoint the page downloads is read back by
 * `genloss train`'s reader (`loadCheckpoint`, `parseRunRecord`) and `genloss train --resume`
 * trains on from it; compare mode trains two configs alternately, each as it would alone (and,
 * in Node, two runs with gradient penalties stepped alternately draw what each draws alone);
 * PNGs picked with the file input (a bad one and a text file reported by name) are shown as
 * thumbnails of their centre squares, a denoiser trains on them (the sample grid's targets are
 * their pixels, read from the canvas), a GAN trains on them, and too few of them or a matting
 * config are refused at the key.
 * Where no Chromium starts, the browser part is skipped with one line saying why.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import type { Browser, ElementHandle, Page } from 'puppeteer-core';
import YAML from 'yaml';
import { PlaygroundRun } from '../../playground/run.ts';
import { launchChromium } from '../../scripts/chromium.ts';
import type { IsolatedServer } from '../../scripts/isolated-server.ts';
import { servePlayground } from '../../scripts/playground.ts';
import { parseRunRecord } from '../../src/cli/run-record.ts';
import { runTraining } from '../../src/cli/train.ts';
import { chooseBackend } from '../../src/index.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-file.ts';
import { configDigest } from '../../src/train/checkpoint.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { Trainer } from '../../src/train/trainer.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Steps the page trains. */
const STEPS = 12;

/** A config value's path and the value it is set to. */
type Edit = [(string | number)[], number];

/**
 * A shipped GAN config (configs/<file>) made small, as a YAML document with its comments: 8×8
 * images, few channels, 16 images, batches of 4, and `extra` edits.
 */
function smallGan(file: string, extra: Edit[]): YAML.Document {
  const doc = YAML.parseDocument(readFileSync(join(root, 'configs', file), 'utf8'));
  const edits: Edit[] = [
    [['model', 'generator', 'noise_size'], 8],
    [['model', 'generator', 'out_size'], 8],
    [['model', 'generator', 'base_channels'], 8],
    [['model', 'discriminator', 'in_size'], 8],
    [['model', 'discriminator', 'base_channels'], 4],
    [['data', 'num_images'], 16],
    [['data', 'size'], 8],
    [['train', 'batch_size'], 4],
    ...extra,
  ];
  for (const [path, value] of edits) doc.setIn(path, value);
  return doc;
}

/**
 * configs/demo.yaml made small (R1 every 2 steps, a log row every 2 steps, samples and SWD every
 * 4), as YAML text with the demo's comments.
 */
function smallDemoYaml(): string {
  return smallGan('demo.yaml', [
    [['model', 'disc_auxiliary_loss', 0, 'interval'], 2],
    [['train', 'iters'], STEPS],
    [['train', 'log_interval'], 2],
    [['train', 'sample_interval'], 4],
    [['train', 'num_samples'], 16],
    [['train', 'num_metric_images'], 16],
  ]).toString({ lineWidth: 0 });
}

/** Puts `text` into the A editor as typing would (an `input` event). */
async function typeConfig(page: Page, text: string): Promise<void> {
  await page.$eval(
    '#editor-a textarea',
    (area, value) => {
      (area as HTMLTextAreaElement).value = value;
      area.dispatchEvent(new Event('input'));
    },
    text,
  );
}

/** Each run's sample canvas: its size and how many colours its pixels hold. */
function sampleGrids(page: Page): Promise<{ width: number; height: number; colours: number }[]> {
  return page.$$eval('.run canvas.grid', (canvases) =>
    canvases.map((canvas) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
      const colours = new Set<number>();
      for (let i = 0; i < data.length; i += 4) {
        colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      }
      return { width: c.width, height: c.height, colours: colours.size };
    }),
  );
}

/** Each run's sample canvas as RGBA bytes, with its width. */
function sampleGridPixels(page: Page): Promise<{ width: number; data: number[] }[]> {
  return page.$$eval('.run canvas.grid', (canvases) =>
    canvases.map((canvas) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
      return { width: c.width, data: [...data] };
    }),
  );
}

/** Colours of the PNGs the image test drops (the centre square of each). */
const DROPPED_COLOURS: [number, number, number][] = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 0],
  [255, 0, 255],
  [0, 255, 255],
];

/**
 * Writes the image test's files to `dir`: one 12×8 PNG per colour of {@link DROPPED_COLOURS},
 * its centre 8×8 square that colour and the 2 columns either side white (a centre crop keeps only
 * the colour; squashing the whole image would mix white in), a PNG that is not one, and a text
 * file. Returns their paths, in that order.
 */
function writeDroppedFiles(dir: string): string[] {
  const paths = DROPPED_COLOURS.map((colour, i) => {
    const png = new PNG({ width: 12, height: 8 });
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 12; x++) {
        const rgb = x >= 2 && x < 10 ? colour : [255, 255, 255];
        png.data.set([...rgb, 255], (y * 12 + x) * 4);
      }
    }
    const path = join(dir, `image-${i}.png`);
    writeFileSync(path, PNG.sync.write(png));
    return path;
  });
  const broken = join(dir, 'broken.png');
  writeFileSync(broken, 'not a PNG at all');
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'a text file');
  return [...paths, broken, text];
}

test("playground runs stepped alternately draw what each draws alone (GP's α from the default generator)", async () => {
  await chooseBackend();
  const before = tf.memory().numTensors;
  const doc = smallGan('wgan-gp.yaml', [[['model', 'discriminator_steps'], 1]]);
  const gp = doc.toJS();
  doc.setIn(['model', 'gan_loss', 'gan_type'], 'hinge');
  const hinge = doc.toJS();
  const steps = 3;
  const alone = new PlaygroundRun(gp);
  const want: unknown[] = [];
  for (let i = 0; i < steps; i++) want.push(await alone.trainStep());
  alone.dispose();
  const a = new PlaygroundRun(gp);
  const b = new PlaygroundRun(hinge);
  const got: unknown[] = [];
  for (let i = 0; i < steps; i++) {
    got.push(await a.trainStep());
    await b.trainStep();
  }
  a.dispose();
  b.dispose();
  assert.deepEqual(got, want);
  assert.equal(tf.memory().numTensors, before);
});

const started = await (async () => {
  try {
    return await launchChromium();
  } catch (error) {
    return error as Error;
  }
})();

if (started instanceof Error) {
  test(`playground suite: skipped, no Chromium could start (${started.message})`, { skip: true });
} else {
  playgroundSuite(started);
}

function playgroundSuite(browser: Browser): void {
  let page: Page;
  let server: IsolatedServer;
  const errors: string[] = [];
  const downloads = mkdtempSync(join(tmpdir(), 'genloss-playground-'));
  const config = smallDemoYaml();

  before(async () => {
    server = await servePlayground({ port: 0 });
    page = await browser.newPage();
    // A context of its own (createBrowserContext) closes @sparticuz/chromium (single process).
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  });

  after(async () => {
    await browser.close();
    await server?.close();
  });

  test('the page loads with the shipped configs and the demo in the editor', async () => {
    const configs = await page.$$eval('#config option', (options) =>
      options.map((o) => (o as HTMLOptionElement).value),
    );
    assert.ok(configs.includes('demo.yaml'), configs.join(', '));
    const text = await page.$eval('#editor-a textarea', (a) => (a as HTMLTextAreaElement).value);
    assert.equal(text, readFileSync(join(root, 'configs/demo.yaml'), 'utf8'));
    assert.deepEqual(errors, []);
  });

  test("an invalid edit lists the CLI's message at its key and highlights that key's line", async () => {
    const lines = config.split('\n');
    const at = lines.findIndex((l) => /^\s+iters:/.test(l));
    lines[at] = lines[at].replace(/iters: \d+/, 'iters: -1');
    await typeConfig(page, lines.join('\n'));
    const shown = await page.$$eval('#editor-a .problem', (items) =>
      items.map((i) => i.textContent),
    );
    assert.deepEqual(shown, [
      `train.iters · line ${at + 1}config: option 'train.iters' must be >= 1, got -1`,
    ]);
    const marked = await page.$$eval('#editor-a .gutter .bad', (cells) =>
      cells.map((c) => c.textContent),
    );
    assert.deepEqual(marked, [String(at + 1)]);
    assert.equal(await page.$eval('#train', (b) => (b as HTMLButtonElement).disabled), true);
  });

  test('a config the schema passes but a loss refuses is listed when Train builds it', async () => {
    await typeConfig(page, config.replace('gan_type: hinge', 'gan_type: hinj'));
    await page.click('#train');
    await page.waitForSelector('#editor-a .problem');
    const shown = await page.$$eval('#editor-a .problem', (items) =>
      items.map((i) => i.textContent ?? ''),
    );
    assert.equal(shown.length, 1);
    assert.match(shown[0], /'gan_type' must be one of .*got 'hinj'. Did you mean 'hinge'\?/);
    assert.match(await page.$eval('#status', (s) => s.textContent ?? ''), /^error: /);
    assert.equal(await page.$$eval('.run', (runs) => runs.length), 0);
    assert.deepEqual(errors, []);
  });

  /** The single run's last losses, as the page shows them. */
  let singleLosses = '';

  test(`the demo config (8×8) trains ${STEPS} steps on wasm, pauses and resumes, with the speed, the backend and samples shown`, async () => {
    await typeConfig(page, config);
    assert.equal(await page.$$eval('#editor-a .problem', (items) => items.length), 0);
    await page.click('#train');
    // Pause is clicked as soon as it is enabled (in the page: a click from here would land
    // several steps later, each call waiting for the page between steps).
    await page.waitForFunction(
      () => {
        const pause = document.querySelector('#pause') as HTMLButtonElement;
        if (pause.disabled) return false;
        pause.click();
        return true;
      },
      { polling: 'mutation' },
    );
    await page.waitForSelector('.run[data-state="paused"]', { timeout: 30_000 });
    const pausedAt = await page.$eval('.run', (r) => Number((r as HTMLElement).dataset.step));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      await page.$eval('.run', (r) => Number((r as HTMLElement).dataset.step)),
      pausedAt,
    );
    assert.ok(pausedAt < STEPS, `paused at step ${pausedAt}`);
    await page.click('#resume');
    await page.waitForSelector('.run[data-state="done"]', { timeout: 60_000 });
    const stats = await page.$eval('.run .stats', (s) => s.textContent ?? '');
    assert.match(
      stats,
      new RegExp(`^step ${STEPS}/${STEPS} · \\d+\\.\\d\\d steps/s · wasm · done$`),
    );
    assert.ok(Number(/([\d.]+) steps\/s/.exec(stats)?.[1]) > 0, stats);
    assert.match(await page.$eval('#env', (e) => e.textContent ?? ''), /^backend: wasm \(SIMD/);
    const [grid] = await sampleGrids(page);
    // 16 samples of 8×8, 8 to a row, with 2-pixel gutters: 8·(8 + 2) + 2 by 2·(8 + 2) + 2.
    assert.deepEqual({ width: grid.width, height: grid.height }, { width: 82, height: 22 });
    assert.ok(grid.colours > 50, `the sample grid has ${grid.colours} colours`);
    assert.ok(
      await page.$eval('.run .plot svg polyline', (line) => line !== null),
      'a loss plot is drawn',
    );
    singleLosses = await page.$eval('.run .losses', (l) => l.textContent ?? '');
    assert.match(singleLosses, /^loss /);
    assert.deepEqual(errors, []);
  });

  test("the downloaded checkpoint is read by genloss train's reader, and train --resume goes on", async () => {
    await page.click('.run .download');
    const deadline = Date.now() + 20_000;
    let files: string[] = [];
    while (Date.now() < deadline) {
      files = readdirSync(downloads).filter((f) => f.endsWith('.ckpt'));
      if (files.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(files, [`demo_iter_${STEPS}.ckpt`]);
    const path = join(downloads, files[0]);
    await chooseBackend();
    const before = tf.memory().numTensors;
    const raw = YAML.parse(config);
    const trainer = new Trainer(raw, shapesDataset(16, 8, 0));
    try {
      const run = await loadCheckpoint(trainer, path, await configDigest(trainer.cfg));
      assert.equal(trainer.step, STEPS);
      const record = parseRunRecord(path, run);
      assert.equal(record.parts.length, 1);
      assert.equal(record.parts[0].end_step, STEPS);
      assert.equal(record.parts[0].backend, 'wasm');
      assert.equal(record.parts[0].ended, 'finished');
    } finally {
      trainer.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    // `genloss train <config> --resume <file> --work-dir <new dir>` goes on from it.
    const configPath = join(downloads, 'demo-small.yaml');
    writeFileSync(configPath, config);
    const resumed = await runTraining(configPath, {
      resume: path,
      workDir: join(downloads, 'resumed'),
      iters: STEPS + 2,
      backend: 'wasm',
      progress: false,
    });
    assert.deepEqual([resumed.steps, resumed.totalSteps], [2, STEPS + 2]);
    assert.ok(Object.values(resumed.last).every(Number.isFinite), JSON.stringify(resumed.last));
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(errors, []);
  });

  test('compare: A and B (gan_type vanilla) train alternately, A exactly as alone', async () => {
    await page.click('#compare');
    const b = await page.$eval('#editor-b textarea', (a) => (a as HTMLTextAreaElement).value);
    assert.equal(b, config.replace('gan_type: hinge', 'gan_type: vanilla'));
    await page.click('#train');
    await page.waitForFunction(
      () => document.querySelectorAll('.run[data-state="done"]').length === 2,
      { timeout: 60_000, polling: 200 },
    );
    const titles = await page.$$eval('.run h2', (h) => h.map((e) => e.textContent));
    assert.deepEqual(titles, ['A: demo', 'B: gan_type vanilla']);
    const losses = await page.$$eval('.run .losses', (l) => l.map((e) => e.textContent));
    // B's steps in between change nothing of A's: A's last losses are the single run's.
    assert.equal(losses[0], singleLosses);
    assert.notEqual(losses[1], singleLosses);
    for (const grid of await sampleGrids(page)) assert.ok(grid.colours > 50);
    assert.deepEqual(errors, []);
  });

  test('dropped images: thumbnails of their centre squares, bad files named, a denoiser and a GAN train on them, too few and matting refused', async () => {
    if (await page.$eval('#compare', (box) => (box as HTMLInputElement).checked)) {
      await page.click('#compare');
    }
    // A denoiser (configs/denoise.yaml made small) on the images: 2 held out, shown as samples.
    const denoise = YAML.parseDocument(readFileSync(join(root, 'configs/denoise.yaml'), 'utf8'));
    const edits: Edit[] = [
      [['model', 'generator', 'mid_channels'], 8],
      [['model', 'generator', 'num_blocks'], 1],
      [['data', 'size'], 16],
      [['data', 'val_images'], 2],
      [['train', 'iters'], 4],
      [['train', 'batch_size'], 4],
      [['train', 'log_interval'], 2],
      [['train', 'sample_interval'], 4],
      [['train', 'num_samples'], 2],
    ];
    for (const [path, value] of edits) denoise.setIn(path, value);
    // Read at the config's data.size (16, the least SSIM takes) when picked.
    await typeConfig(page, denoise.toString({ lineWidth: 0 }));
    const input = (await page.$('#images')) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(...writeDroppedFiles(mkdtempSync(join(tmpdir(), 'genloss-drop-'))));
    await page.waitForSelector(`#images-status[data-count="${DROPPED_COLOURS.length}"]`);
    assert.match(
      await page.$eval('#images-status', (s) => s.textContent ?? ''),
      /^6 images loaded \(centre squares at 16×16, data.size\)/,
    );
    const problems = await page.$$eval('#image-problems li', (items) =>
      items.map((i) => i.textContent ?? ''),
    );
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0], /^broken\.png: cannot be decoded/);
    assert.match(problems[1], /^notes\.txt: not a PNG or JPEG image \(text\/plain\)$/);
    // Each thumbnail (16×16, data.size) is its image's colour in every pixel: no white mixed in.
    const thumbnails = await page.$$eval('#thumbnails canvas', (canvases) =>
      canvases.map((canvas) => {
        const c = canvas as HTMLCanvasElement;
        const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
        const colours = new Set<string>();
        for (let i = 0; i < data.length; i += 4)
          colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
        return { width: c.width, colours: [...colours] };
      }),
    );
    assert.deepEqual(
      thumbnails,
      DROPPED_COLOURS.map((c) => ({ width: 16, colours: [c.join(',')] })),
    );

    await page.click('#train');
    await page.waitForSelector('.run[data-state="done"]', { timeout: 60_000 });
    // One row of 2 examples × (noisy input, output, target), 16×16 cells, 2-pixel gutters:
    // the targets (columns 2 and 5) are the first two images, exactly.
    const [grid] = await sampleGridPixels(page);
    assert.equal(grid.width, 6 * 18 + 2);
    for (const [example, column] of [2, 5].entries()) {
      const seen = new Set<string>();
      for (let y = 2; y < 18; y++) {
        for (let x = 2 + column * 18; x < 18 + column * 18; x++) {
          seen.add(
            grid.data.slice((y * grid.width + x) * 4, (y * grid.width + x) * 4 + 3).join(','),
          );
        }
      }
      assert.deepEqual([...seen], [DROPPED_COLOURS[example].join(',')], `target ${example}`);
    }

    // A GAN (the small demo) trains on them too; with batches larger than the images, refused.
    const gan = YAML.parseDocument(config);
    gan.setIn(['train', 'iters'], 2);
    await typeConfig(page, gan.toString({ lineWidth: 0 }));
    await page.click('#train');
    await page.waitForSelector('.run[data-state="done"]', { timeout: 60_000 });
    gan.setIn(['train', 'batch_size'], 8);
    await typeConfig(page, gan.toString({ lineWidth: 0 }));
    await page.click('#train');
    await page.waitForSelector('#editor-a .problem');
    assert.match(
      await page.$eval('#editor-a .problem', (p) => p.textContent ?? ''),
      /^train\.batch_size · line \d+config: option 'train\.batch_size' is 8, but the 6 dropped images leave 6 to train: drop more images or lower train\.batch_size$/,
    );

    // Matting needs the shapes' alpha mattes.
    await typeConfig(page, readFileSync(join(root, 'configs/matting.yaml'), 'utf8'));
    await page.click('#train');
    await page.waitForSelector('#editor-a .problem');
    assert.match(
      await page.$eval('#editor-a .problem', (p) => p.textContent ?? ''),
      /option 'model\.type' DIM \(matting\) trains on the shapes only/,
    );

    await page.click('#clear-images');
    await page.waitForSelector('#images-status[data-count="0"]');
    assert.equal(await page.$$eval('#thumbnails canvas', (c) => c.length), 0);
    assert.deepEqual(errors, []);
  });
}
