/**
 * Up-front checks that a training config fits: the networks' shapes agree with each other and
 * with the data, and the dataset, one training step and the sample grids fit in memory. They run
 * before anything large is allocated, so that a config that cannot work fails with an error
 * naming its key, the estimate and the limit, instead of crashing inside TF.js or V8.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, ResourceLimitError } from '../core/errors.ts';
import type { TrainConfig } from './config.ts';

const KiB = 1024;
const GiB = KiB ** 3;

/** Bytes of one float32 value. */
const FLOAT_BYTES = 4;

/**
 * The memory limit where no better one is known (in the browser): 4 GiB, which is also the most a
 * 32-bit WebAssembly memory (the wasm backend's heap) can hold.
 */
export const DEFAULT_MEMORY_LIMIT_BYTES = 4 * GiB;

/**
 * The fraction of the machine's memory a run may plan to use (`memoryLimitFor`): the estimates
 * below are of the tensors and buffers a run makes, not of the Node process, TF.js's kernels and
 * the rest of the machine, which keep the other 40%.
 */
const MEMORY_FRACTION = 0.6;

/**
 * The memory limit for a machine with `totalBytes` of memory (Node: `os.totalmem()`):
 * `0.6 × totalBytes`, and at most `DEFAULT_MEMORY_LIMIT_BYTES` (4 GiB, the largest heap a 32-bit
 * WebAssembly memory can grow to) when `backend` is `'wasm'`, whose tensors live in that heap.
 */
export function memoryLimitFor(totalBytes: number, backend?: string): number {
  const share = Math.floor(MEMORY_FRACTION * totalBytes);
  return backend === 'wasm' ? Math.min(share, DEFAULT_MEMORY_LIMIT_BYTES) : share;
}

/**
 * The most elements one typed array may have: `new Float32Array(n)` (and `Uint8Array`) throws
 * `RangeError: Invalid typed array length` for n > 2³² on Node 20 (V8 11.3, 64-bit). Every
 * tensor, the dataset's pixels and the PNG grid's RGBA buffer are each one typed array.
 */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;

/**
 * How many times the layer outputs of one forward pass of both networks one training step holds
 * at its peak (`estimateStepBytes`): 16 = 2 × 2 × 2 × 2. The discriminator runs on a real and a
 * fake batch, the generator twice when a path length penalty regenerates (×2); the backward pass
 * keeps every forward output and makes a gradient of the same size for it (×2); a gradient
 * penalty (R1, WGAN-GP, path length) differentiates that backward pass again, keeping the first
 * backward's tensors and making their gradients (×2); TF.js's tape also keeps each op's saved
 * inputs and its gradient's intermediate tensors (leaky ReLU's masks, a conv's output before its
 * bias), about one more tensor per layer output (×2). Measured with `tf.profile` on the wasm
 * backend over steps of configs/demo.yaml, wgan-gp.yaml, stylegan2-lazy.yaml and wider, 64² and
 * path-length variants (batch 2–64): a step's peak grows by 4.9–14.1 times the layer outputs per
 * image of batch, so 16 bounds it with margin.
 */
export const STEP_MEMORY_FACTOR = 16;

/**
 * How many float32 copies of each weight one training step holds at its peak: the weight, one
 * gradient per pass through it (real, fake, penalty) before they are summed, Adam's two moments,
 * the temporaries of its update and the step's undo snapshot of weights and moments. Measured as
 * for `STEP_MEMORY_FACTOR`: up to 18 copies (a discriminator with 2.7 M weights peaks at 181 MiB
 * at batch 2), so 24.
 */
const WEIGHT_COPIES = 24;

/** `n` bytes in binary units: `512 B`, `12.0 KiB`, `1.5 GiB`, up to EiB. */
function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = n;
  let unit = 0;
  while (value >= KiB && unit < units.length - 1) {
    value /= KiB;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The product of `dims` (1 for none). */
function product(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/** `[h, w, c]` as `h×w×c`. */
function dimsText(dims: readonly number[]): string {
  return dims.join('×');
}

/** The shape after the batch dimension, or null if `shape` is not `[null, ...known dims]`. */
function perSample(shape: readonly (number | null)[]): number[] | null {
  if (shape.length < 2 || shape[0] !== null) return null;
  const rest = shape.slice(1);
  return rest.every((d): d is number => typeof d === 'number' && d > 0) ? rest : null;
}

/** A model's single input or output shape, as `[null, ...]`. */
function onlyShape(
  owner: string,
  side: 'input' | 'output',
  tensors: readonly tf.SymbolicTensor[],
): (number | null)[] {
  if (tensors.length !== 1) {
    throw new ConfigError(`${owner} must have one ${side}, it has ${tensors.length}`);
  }
  return tensors[0].shape;
}

/** An image shape `[null, h, w, c]`'s `[h, w, c]`, or a ConfigError naming `owner`. */
function imageDims(owner: string, what: string, shape: readonly (number | null)[]): number[] {
  const dims = perSample(shape);
  if (dims?.length !== 3) {
    throw new ConfigError(
      `${owner} ${what} [${shape.map((d) => d ?? 'N').join(', ')}], not images N×H×W×C`,
    );
  }
  return dims;
}

/**
 * Checks that the networks fit each other and the data: the generator's output shape
 * `[N, h, w, c]` equals the data's image shape `imageShape = [h, w, c]` (from `data.size`, RGB)
 * and the discriminator's input shape, and the discriminator gives one score per image
 * (`[N, 1]`) or a map (any `[N, ...]`). The ConfigError names the DCGAN keys that set each shape
 * (`model.generator.out_size`/`out_channels`, `data.size`, `model.discriminator.in_size`/
 * `in_channels`). Run it after building the nets, before the first step.
 */
export function checkNetworkShapes(
  generator: tf.LayersModel,
  discriminator: tf.LayersModel,
  imageShape: readonly [number, number, number],
): void {
  const made = imageDims(
    'model.generator',
    'outputs',
    onlyShape('model.generator', 'output', generator.outputs),
  );
  const taken = imageDims(
    'model.discriminator',
    'takes',
    onlyShape('model.discriminator', 'input', discriminator.inputs),
  );
  const sizesDiffer = new Set([made, imageShape, taken].map((s) => `${s[0]}×${s[1]}`)).size > 1;
  const channelsDiffer = new Set([made[2], imageShape[2], taken[2]]).size > 1;
  if (sizesDiffer || channelsDiffer) {
    const says = (size: string, channels: string) =>
      [sizesDiffer ? size : '', channelsDiffer ? channels : ''].filter(Boolean).join(' and ');
    const generatorKeys = says(
      `model.generator.out_size (${made[0]})`,
      `model.generator.out_channels (${made[2]})`,
    );
    const dataKeys = says(`data.size (${imageShape[0]})`, `data (${imageShape[2]} channels)`);
    const discriminatorKeys = says(
      `model.discriminator.in_size (${taken[0]})`,
      `model.discriminator.in_channels (${taken[2]})`,
    );
    throw new ConfigError(
      `${generatorKeys} gives ${dimsText(made)} images, but ${dataKeys} gives ${dimsText(imageShape)} and ${discriminatorKeys} takes ${dimsText(taken)}; make them equal`,
    );
  }
  const scores = onlyShape('model.discriminator', 'output', discriminator.outputs);
  if (!perSample(scores)) {
    throw new ConfigError(
      `model.discriminator outputs [${scores.map((d) => d ?? 'N').join(', ')}]; it must give one score per image [N, 1] or a map [N, ...]`,
    );
  }
}

/**
 * Checks, before the dataset is made, that the `shapes` dataset fits: its pixels,
 * `num_images × size² × 3` float32 values (`× 4` bytes), must be at most `limitBytes` and at
 * most `MAX_TYPED_ARRAY_LENGTH` values (they are one Float32Array). The ResourceLimitError names
 * `data.size` when one image alone is over the limit, else `data.num_images`, with the estimate
 * and the limit. A `folder` dataset is bounded where its files are read (src/node/images.ts).
 */
export function checkDataSize(data: TrainConfig['data'], limitBytes: number): void {
  if (data.type !== 'shapes') return;
  const perImage = data.size * data.size * 3;
  const values = data.num_images * perImage;
  const formula = `data.num_images (${data.num_images}) × data.size² (${data.size}²) × 3 channels`;
  const key = (limitValues: number) => (perImage > limitValues ? 'data.size' : 'data.num_images');
  const bytes = values * FLOAT_BYTES;
  if (bytes > limitBytes) {
    throw new ResourceLimitError(
      `${key(limitBytes / FLOAT_BYTES)}: the shapes dataset needs ${formula} × 4 bytes = ${formatBytes(bytes)}, over the memory limit of ${formatBytes(limitBytes)}; lower data.num_images or data.size`,
    );
  }
  if (values > MAX_TYPED_ARRAY_LENGTH) {
    throw new ResourceLimitError(
      `${key(MAX_TYPED_ARRAY_LENGTH)}: the shapes dataset needs ${formula} = ${values} values, over the ${MAX_TYPED_ARRAY_LENGTH} one Float32Array can hold; lower data.num_images or data.size`,
    );
  }
}

/** Per-sample values of a model's inputs and every layer's output, and the largest of them. */
function layerValues(model: tf.LayersModel): { total: number; largest: number } {
  const shapes = [
    ...model.inputs.map((input) => input.shape),
    ...model.layers.flatMap((layer) => {
      const out = layer.outputShape;
      return (Array.isArray(out[0]) ? out : [out]) as (number | null)[][];
    }),
  ];
  const sizes = shapes.map((shape) => product(shape.slice(1).map((d) => d ?? 1)));
  return { total: sizes.reduce((a, b) => a + b, 0), largest: Math.max(...sizes) };
}

/**
 * An upper estimate of the peak memory of one training step with batches of `batchSize`, in
 * bytes:
 *
 *   `4 × (STEP_MEMORY_FACTOR (16) × batchSize × Σ_layers Π(output shape per sample)`
 *   `     + 24 × (weights of both networks))`
 *
 * where the sum runs over both networks' inputs and every layer's output (per image, without the
 * batch dimension), and 24 is the float32 copies a step makes of each weight. Losses' own
 * networks (VGG, ArcFace, CLIP) are not counted. See `STEP_MEMORY_FACTOR` for the 16.
 */
export function estimateStepBytes(
  generator: tf.LayersModel,
  discriminator: tf.LayersModel,
  batchSize: number,
): number {
  const values = layerValues(generator).total + layerValues(discriminator).total;
  const weights = generator.countParams() + discriminator.countParams();
  return FLOAT_BYTES * (STEP_MEMORY_FACTOR * batchSize * values + WEIGHT_COPIES * weights);
}

/** Columns of the sample grid, as src/node/images.ts tiles it. */
const GRID_COLUMNS = 8;
/** Pixels between and around the sample grid's tiles. */
const GRID_GAP = 2;

/**
 * The bytes of rendering `numSamples` samples of `h×w×c` from `noiseSize`-long noise (the trainer
 * renders them in chunks of `batch_size`, whose activations `estimateStepBytes` covers): the
 * noise, the images twice (the tensor and the copy read back from it) and the PNG grid's RGBA
 * buffer three times (the pixels, the filtered scanlines, the deflated output):
 *
 *   `4 × N × (noiseSize + 2·h·w·c) + 3 × 4 × (8·(w+2)+2) × (⌈N/8⌉·(h+2)+2)`.
 */
function sampleCosts(
  numSamples: number,
  noiseSize: number,
  [h, w, c]: readonly number[],
): { bytes: number; imageValues: number; gridBytes: number } {
  const imageValues = numSamples * h * w * c;
  const gridBytes =
    4 *
    (GRID_COLUMNS * (w + GRID_GAP) + GRID_GAP) *
    (Math.ceil(numSamples / GRID_COLUMNS) * (h + GRID_GAP) + GRID_GAP);
  const bytes = FLOAT_BYTES * (numSamples * noiseSize + 2 * imageValues) + 3 * gridBytes;
  return { bytes, imageValues, gridBytes };
}

/**
 * Checks, after building the nets and before the first step, that training fits in `limitBytes`:
 * `estimateStepBytes(generator, discriminator, batch_size)` must be at most the limit and the
 * largest layer output of a batch (`batch_size × Π(output shape per sample)`) at most
 * `MAX_TYPED_ARRAY_LENGTH` values, else a ResourceLimitError names `train.batch_size`; rendering
 * `num_samples` samples (noise `N × noise_size`, images `N×h×w×c` twice, the 8-column PNG grid's
 * RGBA buffer three times) must be at most the limit, the images and the grid at most
 * `MAX_TYPED_ARRAY_LENGTH` values each, else it names `train.num_samples`. Each message states the
 * estimate and the limit. A `batch_size` over the dataset's size is fine: the sampler reshuffles
 * across epochs.
 */
export function checkStepMemory(
  generator: tf.LayersModel,
  discriminator: tf.LayersModel,
  train: Pick<TrainConfig['train'], 'batch_size' | 'num_samples'>,
  limitBytes: number,
): void {
  const { batch_size: batchSize, num_samples: numSamples } = train;
  const limit = formatBytes(limitBytes);
  const stepBytes = estimateStepBytes(generator, discriminator, batchSize);
  if (stepBytes > limitBytes) {
    throw new ResourceLimitError(
      `train.batch_size (${batchSize}): one training step needs about ${formatBytes(stepBytes)} (${STEP_MEMORY_FACTOR} × batch_size × the networks' layer outputs × 4 bytes, plus ${WEIGHT_COPIES} × 4 bytes per weight), over the memory limit of ${limit}; lower train.batch_size`,
    );
  }
  const largest =
    batchSize * Math.max(layerValues(generator).largest, layerValues(discriminator).largest);
  if (largest > MAX_TYPED_ARRAY_LENGTH) {
    throw new ResourceLimitError(
      `train.batch_size (${batchSize}): the largest layer output of a batch has ${largest} values, over the ${MAX_TYPED_ARRAY_LENGTH} one typed array can hold; lower train.batch_size`,
    );
  }
  const noiseSize = product(
    perSample(onlyShape('model.generator', 'input', generator.inputs)) ?? [],
  );
  const imageShape = imageDims(
    'model.generator',
    'outputs',
    onlyShape('model.generator', 'output', generator.outputs),
  );
  const samples = sampleCosts(numSamples, noiseSize, imageShape);
  if (samples.bytes > limitBytes) {
    throw new ResourceLimitError(
      `train.num_samples (${numSamples}): rendering the samples needs about ${formatBytes(samples.bytes)} (their noise, ${numSamples} images of ${dimsText(imageShape)} and their PNG grid), over the memory limit of ${limit}; lower train.num_samples`,
    );
  }
  const values = Math.max(samples.imageValues, samples.gridBytes);
  if (values > MAX_TYPED_ARRAY_LENGTH) {
    throw new ResourceLimitError(
      `train.num_samples (${numSamples}): the sample images or their PNG grid need ${values} values, over the ${MAX_TYPED_ARRAY_LENGTH} one typed array can hold; lower train.num_samples`,
    );
  }
}
