/**
 * The playground page (served by scripts/playground.ts): pick or edit a config, train it in the
 * browser on the embedded shapes or on images dropped onto the page, with live sample grids, loss
 * and metric plots (the CLI's `lossPlotSvg` and `metricPlotSvg`) and the speed, pause and resume,
 * download a checkpoint that `genloss train --resume` reads, and compare two configs that differ
 * in one loss, trained alternately on the same data and seeds, side by side.
 */
import '../scripts/page-wasm.ts';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import YAML from 'yaml';
import { lossPlotSvg, metricPlotSvg } from '../src/cli/plot.ts';
import { chooseBackend } from '../src/index.ts';
import { GAN_LOSS_COMPS_TYPES, GAN_LOSS_TYPES } from '../src/losses/gan.ts';
import { shapesDataOptions } from '../src/train/config.ts';
import type { ArrayDataset } from '../src/train/datasets.ts';
import { ConfigEditor } from './editor.ts';
import { type DroppedImages, readDroppedImages } from './images.ts';
import { PlaygroundRun, parsePlaygroundConfig } from './run.ts';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const configSelect = byId<HTMLSelectElement>('config');
const compareBox = byId<HTMLInputElement>('compare');
const backendSelect = byId<HTMLSelectElement>('backend');
const variantSelect = byId<HTMLSelectElement>('variant');
const trainButton = byId<HTMLButtonElement>('train');
const pauseButton = byId<HTMLButtonElement>('pause');
const resumeButton = byId<HTMLButtonElement>('resume');
const statusLine = byId<HTMLSpanElement>('status');
const envLine = byId<HTMLSpanElement>('env');
const runsHost = byId<HTMLElement>('runs');
const imageInput = byId<HTMLInputElement>('images');
const clearImagesButton = byId<HTMLButtonElement>('clear-images');
const imagesStatus = byId<HTMLDivElement>('images-status');
const imageProblems = byId<HTMLUListElement>('image-problems');
const thumbnails = byId<HTMLDivElement>('thumbnails');

/** Whether runs are training (not yet finished; paused counts). */
const training = () => session !== null && !session.finished;

const refreshButtons = () => {
  const running = training();
  const valid = editors().every((e) => e.validation.problems.length === 0);
  trainButton.disabled = running || !valid;
  for (const input of [configSelect, compareBox, backendSelect, variantSelect, imageInput]) {
    input.disabled = running;
  }
  clearImagesButton.disabled = running || droppedFiles.length === 0;
  pauseButton.disabled = !running || session?.paused === true;
  resumeButton.disabled = !running || session?.paused !== true;
};

const editorA = new ConfigEditor(byId('editor-a'), () => {
  if (compareBox.checked) fillVariants();
  refreshButtons();
});
const editorB = new ConfigEditor(byId('editor-b'), refreshButtons);
const editors = () => (compareBox.checked ? [editorA, editorB] : [editorA]);

/** A config that differs from another in one key: what compare mode offers for B. */
interface Variant {
  label: string;
  path: (string | number)[];
  value: unknown;
}

/**
 * The types a restorer's `pixel_loss` is compared across (each with its own defaults). Not
 * `SSIMLoss`: it takes images in [0, data_range], and a restorer's output is not clipped.
 */
const PIXEL_LOSSES = ['L1Loss', 'CharbonnierLoss', 'MSELoss'];

/**
 * The one-loss variants of a config: its GAN loss's other `gan_type`s (those its class accepts),
 * its other pixel losses.
 */
function variantsOf(raw: unknown): Variant[] {
  const model = (raw as { model?: Record<string, unknown> } | null)?.model ?? {};
  const out: Variant[] = [];
  const gan = model.gan_loss as { type?: string; gan_type?: string } | undefined;
  if (typeof gan?.gan_type === 'string') {
    const types: readonly string[] =
      gan.type === 'GANLossComps' ? GAN_LOSS_COMPS_TYPES : GAN_LOSS_TYPES;
    // Not 'l1' and 'smgan': they take other inputs (a target image, a mask).
    const comparable = types.filter((t) => t !== gan.gan_type && t !== 'l1' && t !== 'smgan');
    for (const t of comparable) {
      out.push({ label: `gan_type ${t}`, path: ['model', 'gan_loss', 'gan_type'], value: t });
    }
  }
  const pixel = model.pixel_loss as { type?: string; loss_weight?: number } | undefined;
  if (typeof pixel?.type === 'string') {
    for (const t of PIXEL_LOSSES.filter((t) => t !== pixel.type)) {
      out.push({
        label: `pixel_loss ${t}`,
        path: ['model', 'pixel_loss'],
        value: { type: t, loss_weight: pixel.loss_weight ?? 1 },
      });
    }
  }
  return out;
}

let variants: Variant[] = [];

/** Lists A's variants in the B picker and makes B the chosen one (the first by default). */
function fillVariants(): void {
  const previous = variantSelect.value;
  variants = variantsOf(editorA.validation.raw);
  variantSelect.replaceChildren(
    ...variants.map((v, i) => new Option(v.label, String(i), false, v.label === previous)),
    new Option('(edit B freely)', 'free', false, previous === 'free'),
  );
  applyVariant();
}

/** B's text: A's, with the chosen key set (comments and layout of A kept). */
function applyVariant(): void {
  const variant = variants[Number(variantSelect.value)];
  if (variant === undefined) return;
  const doc = YAML.parseDocument(editorA.value);
  doc.setIn(variant.path, doc.createNode(variant.value));
  // lineWidth 0: flow collections stay on one line, as written.
  editorB.value = doc.toString({ lineWidth: 0 });
}

/** A run's panel: step, speed, last losses, the sample grid and the plots. */
class RunView {
  readonly root = document.createElement('article');
  readonly canvas = document.createElement('canvas');
  private readonly stats = document.createElement('div');
  private readonly losses = document.createElement('div');
  private readonly lossPlot = document.createElement('div');
  private readonly metricPlot = document.createElement('div');
  readonly download = document.createElement('button');

  constructor(
    readonly run: PlaygroundRun,
    title: string,
    fileName: string,
  ) {
    this.root.className = 'run';
    const heading = document.createElement('h2');
    heading.textContent = title;
    this.stats.className = 'stats';
    this.losses.className = 'losses';
    this.canvas.className = 'grid';
    this.lossPlot.className = 'plot';
    this.metricPlot.className = 'plot';
    this.download.textContent = 'Download checkpoint';
    this.download.className = 'download';
    this.download.addEventListener('click', async () => {
      const bytes = await run.checkpoint();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
      link.download = `${fileName}_iter_${run.step}.ckpt`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    });
    this.root.append(
      heading,
      this.stats,
      this.losses,
      this.canvas,
      this.download,
      this.lossPlot,
      this.metricPlot,
    );
    this.update('training');
  }

  /**
   * Shows the step, speed, backend and last losses; `state` goes to `data-state`. The checkpoint
   * downloads between steps only (paused, done or failed): reading the state awaits, and a step
   * in between would mix two steps' state.
   */
  update(state: string): void {
    const { run } = this;
    this.download.disabled = state === 'training';
    this.root.dataset.step = String(run.step);
    this.root.dataset.state = state;
    this.stats.textContent = `step ${run.step}/${run.cfg.train.iters} · ${run.stepsPerSecond.toFixed(2)} steps/s · ${tf.getBackend()} · ${state}`;
    this.losses.textContent = Object.entries(run.last)
      .map(
        ([k, v]) =>
          `${k} ${Math.abs(v) >= 100 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4)}`,
      )
      .join('  ');
  }

  /** Redraws the loss and metric plots from the run's scalar log. */
  plot(): void {
    const rows = this.run.rows;
    this.lossPlot.innerHTML = lossPlotSvg(rows);
    this.metricPlot.innerHTML = metricPlotSvg(rows) ?? '';
  }

  /** Renders the run's sample grid into the canvas (2-pixel white gutters, as the CLI's PNGs). */
  async drawSamples(): Promise<void> {
    const { images, columns } = await this.run.samples();
    const grid = tf.tidy(() => {
      const [n, h, w] = images.shape;
      const rows = Math.ceil(n / columns);
      const gap = 2;
      const rgb = images.shape[3] === 1 ? tf.tile(images, [1, 1, 1, 3]) : images;
      const unit = tf.div(tf.add(tf.clipByValue(rgb, -1, 1), 1), 2);
      const cells = tf.pad(
        unit,
        [
          [0, rows * columns - n],
          [0, gap],
          [0, gap],
          [0, 0],
        ],
        1,
      );
      const tiled = cells
        .reshape([rows, columns, h + gap, w + gap, 3])
        .transpose([0, 2, 1, 3, 4])
        .reshape([rows * (h + gap), columns * (w + gap), 3]);
      return tf.pad(
        tiled,
        [
          [gap, 0],
          [gap, 0],
          [0, 0],
        ],
        1,
      ) as tf.Tensor3D;
    });
    images.dispose();
    try {
      await tf.browser.toPixels(grid, this.canvas);
    } finally {
      grid.dispose();
    }
  }
}

/** The runs being trained, stepped alternately until each is done. */
class Session {
  paused = false;
  finished = false;
  private wake: (() => void) | null = null;

  constructor(readonly views: RunView[]) {}

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** Step 0's samples and metrics, then the steps, samples and metrics as `genloss train` runs them. */
  async train(): Promise<void> {
    const active = new Set(this.views);
    const sample = async (view: RunView) => {
      await view.drawSamples();
      await view.run.evaluate();
    };
    for (const view of this.views) await sample(view);
    while (active.size > 0) {
      if (this.paused) {
        for (const view of active) view.update('paused');
        statusLine.textContent = 'paused';
        await new Promise<void>((wake) => {
          this.wake = wake;
        });
        statusLine.textContent = 'training';
      }
      for (const view of active) {
        const { run } = view;
        try {
          const logged = run.rows.length;
          await run.trainStep();
          if (run.sampleDue) await sample(view);
          if (run.rows.length > logged) view.plot();
          view.update(run.done ? 'done' : 'training');
          if (run.done) active.delete(view);
        } catch (error) {
          view.update(`failed: ${(error as Error).message}`);
          active.delete(view);
        }
      }
      // Lets the page draw a frame (the new numbers, grids and plots) and take clicks.
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    }
  }

  dispose(): void {
    for (const view of this.views) view.run.dispose();
  }
}

let session: Session | null = null;

/** The image files dropped or picked (none: the runs train on the shapes). */
let droppedFiles: File[] = [];
/** {@link droppedFiles} read at each `data.size` asked for so far. */
let droppedBySize = new Map<number, DroppedImages>();

/** `data.size` of a config, or the shapes' default while it does not validate. */
function dataSize(raw: unknown): number {
  try {
    return parsePlaygroundConfig(raw).data.size;
  } catch {
    return shapesDataOptions.shape.size.parse(undefined);
  }
}

/** The dropped images at `size` (read once per size); null when none was dropped. */
async function droppedImagesAt(size: number): Promise<DroppedImages | null> {
  if (droppedFiles.length === 0) return null;
  let read = droppedBySize.get(size);
  if (!read) {
    read = await readDroppedImages(droppedFiles, size);
    droppedBySize.set(size, read);
  }
  return read;
}

/** The dataset a run of `raw` trains on instead of the shapes, if images were dropped. */
async function trainingImages(raw: unknown): Promise<ArrayDataset | undefined> {
  const read = await droppedImagesAt(dataSize(raw));
  if (read === null) return undefined;
  if (read.dataset === null) {
    throw new Error(
      `none of the ${droppedFiles.length} dropped files is a usable PNG/JPEG image: use the shapes or drop others`,
    );
  }
  return read.dataset;
}

/** Takes `files` as the data (none: back to the shapes) and shows them at A's `data.size`. */
async function useDroppedFiles(files: File[]): Promise<void> {
  droppedFiles = files;
  droppedBySize = new Map();
  const size = dataSize(editorA.validation.raw);
  const read = await droppedImagesAt(size);
  refreshButtons();
  imageProblems.replaceChildren(
    ...(read?.problems ?? []).map((line) => {
      const item = document.createElement('li');
      item.textContent = line;
      return item;
    }),
  );
  const dataset = read?.dataset ?? null;
  const count = dataset?.size ?? 0;
  imagesStatus.dataset.count = String(count);
  imagesStatus.textContent =
    read === null
      ? 'Training on the embedded shapes: drop PNG/JPEG images onto the page to train on them.'
      : count === 0
        ? `None of the ${files.length} files is a usable PNG/JPEG image: training uses the shapes until you drop others.`
        : `${count} image${count === 1 ? '' : 's'} loaded (centre squares at ${size}×${size}, data.size): the runs train on them instead of the shapes.`;
  const canvases = [];
  for (let i = 0; i < count; i++) {
    const canvas = document.createElement('canvas');
    const image = tf.tidy(() =>
      tf.div(tf.add((dataset as ArrayDataset).batch([i]).squeeze([0]), 1), 2),
    ) as tf.Tensor3D;
    try {
      await tf.browser.toPixels(image, canvas);
    } finally {
      image.dispose();
    }
    canvases.push(canvas);
  }
  thumbnails.replaceChildren(...canvases);
}

async function train(): Promise<void> {
  trainButton.disabled = true;
  session?.dispose();
  session = null;
  runsHost.replaceChildren();
  try {
    await chooseBackend(backendSelect.value);
    await showEnvironment();
    const name = configSelect.value.replace(/\.ya?ml$/, '');
    const sides: [string, unknown][] = compareBox.checked
      ? [
          [`A: ${name}`, editorA.validation.raw],
          [
            `B: ${variantSelect.value === 'free' ? 'edited' : variantSelect.selectedOptions[0]?.textContent}`,
            editorB.validation.raw,
          ],
        ]
      : [[name, editorA.validation.raw]];
    const views: RunView[] = [];
    for (const [k, [title, raw]] of sides.entries()) {
      const suffix = sides.length > 1 ? `_${'AB'[k]}` : '';
      try {
        const run = new PlaygroundRun(raw, await trainingImages(raw));
        views.push(new RunView(run, title, `${name}${suffix}`));
      } catch (error) {
        for (const view of views) view.run.dispose();
        editors()[k].report((error as Error).message);
        throw error;
      }
    }
    runsHost.replaceChildren(...views.map((v) => v.root));
    session = new Session(views);
    for (const e of editors()) e.readOnly = true;
    statusLine.textContent = 'training';
    refreshButtons();
    await session.train();
    statusLine.textContent = 'done';
  } catch (error) {
    statusLine.textContent = `error: ${(error as Error).message}`;
  } finally {
    if (session) session.finished = true;
    for (const e of editors()) e.readOnly = false;
    refreshButtons();
  }
}

/** The backend in use, the wasm backend's SIMD and threads, and whether the page is isolated. */
async function showEnvironment(): Promise<void> {
  const backend = tf.getBackend();
  let detail = '';
  if (backend === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    detail = ` (SIMD ${simd ? 'on' : 'off'}, ${getThreadsCount()} thread${getThreadsCount() === 1 ? '' : 's'})`;
  }
  envLine.textContent = `backend: ${backend}${detail} · crossOriginIsolated: ${globalThis.crossOriginIsolated ? 'yes' : 'no'}`;
}

async function loadConfig(file: string): Promise<void> {
  const response = await fetch(`/configs/${file}`);
  editorA.value = await response.text();
  if (compareBox.checked) fillVariants();
}

async function start(): Promise<void> {
  const files = (await (await fetch('/configs/index.json')).json()) as string[];
  configSelect.replaceChildren(...files.map((f) => new Option(f.replace(/\.ya?ml$/, ''), f)));
  configSelect.value = files.includes('demo.yaml') ? 'demo.yaml' : files[0];
  configSelect.addEventListener('change', () => loadConfig(configSelect.value));
  compareBox.addEventListener('change', () => {
    byId('side-b').hidden = !compareBox.checked;
    if (compareBox.checked) fillVariants();
    refreshButtons();
  });
  variantSelect.addEventListener('change', applyVariant);
  backendSelect.addEventListener('change', async () => {
    await chooseBackend(backendSelect.value);
    await showEnvironment();
  });
  trainButton.addEventListener('click', train);
  imageInput.addEventListener('change', () =>
    useDroppedFiles([...(imageInput.files ?? [])]).catch(showError),
  );
  clearImagesButton.addEventListener('click', () => {
    imageInput.value = '';
    useDroppedFiles([]).catch(showError);
  });
  // Files dropped anywhere on the page (the editor would otherwise paste them as text).
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    document.body.classList.remove('dragging');
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length > 0 && !training()) useDroppedFiles(files).catch(showError);
  });
  pauseButton.addEventListener('click', () => {
    session?.pause();
    refreshButtons();
  });
  resumeButton.addEventListener('click', () => {
    session?.resume();
    refreshButtons();
  });
  await loadConfig(configSelect.value);
  await useDroppedFiles([]);
  await chooseBackend(backendSelect.value);
  await showEnvironment();
  document.body.dataset.ready = 'true';
}

/** Shows an unexpected error in the status line (and the console). */
function showError(error: unknown): void {
  statusLine.textContent = `error: ${(error as Error).message}`;
  console.error(error);
}

start().catch(showError);
