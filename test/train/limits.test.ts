/**
 * Up-front limits of a training config (src/train/limits.ts): networks whose sizes do not fit each
 * other or the data, and datasets, batches and sample grids too large for memory or for one typed
 * array, fail with an error naming the config key, the estimate and the limit, before anything is
 * allocated (where they used to crash inside tf.layers, V8 or run out of memory).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { parse } from 'yaml';
import { ConfigError, ResourceLimitError } from '../../src/core/errors.ts';
import { parseOptions } from '../../src/core/options.ts';
import { GANWithCustomizedLoss } from '../../src/models/gan-with-customized-loss.ts';
import { buildNet } from '../../src/train/architectures.ts';
import { folderDataOptions, type TrainConfig, trainConfigOptions } from '../../src/train/config.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import {
  checkDataSize,
  checkNetworkShapes,
  checkStepMemory,
  DEFAULT_MEMORY_LIMIT_BYTES,
  estimateStepBytes,
  MAX_TYPED_ARRAY_LENGTH,
  memoryLimitFor,
} from '../../src/train/limits.ts';
import { useTestBackend } from '../helpers/backend.ts';

const GiB = 1024 ** 3;

/** configs/demo.yaml, validated. */
const demo: TrainConfig = parseOptions(
  'configs/demo.yaml',
  trainConfigOptions,
  parse(readFileSync(new URL('../../configs/demo.yaml', import.meta.url), 'utf8')),
);

/** Builds a small DCGAN pair, runs `body` on it and disposes both nets. */
function withNets<T>(
  gen: Record<string, unknown>,
  disc: Record<string, unknown>,
  body: (g: tf.LayersModel, d: tf.LayersModel) => T,
): T {
  const g = buildNet('model.generator', { type: 'DCGANGenerator', base_channels: 8, ...gen });
  const d = buildNet('model.discriminator', {
    type: 'DCGANDiscriminator',
    base_channels: 4,
    ...disc,
  });
  try {
    return body(g, d);
  } finally {
    g.dispose();
    d.dispose();
  }
}

/** The demo config's networks. */
function withDemoNets<T>(body: (g: tf.LayersModel, d: tf.LayersModel) => T): T {
  const { generator, discriminator } = demo.model as { generator: object; discriminator: object };
  return withNets({ ...generator }, { ...discriminator }, body);
}

/** Asserts `fn` throws a `type` whose message matches every pattern. */
function throwsNaming(fn: () => void, type: typeof ConfigError, patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected a ${type.name}, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** A shapes data config. */
const shapes = (num_images: number, size: number): TrainConfig['data'] => ({
  type: 'shapes',
  num_images,
  size,
  seed: 0,
  trimap_width: 2,
  val_images: 64,
});

describe('train limits', () => {
  let tensorsBefore = 0;
  before(async () => {
    await useTestBackend();
    tensorsBefore = tf.memory().numTensors;
  });
  after(() => {
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the checks leak no tensors');
  });

  test('generator out_size 64 against data.size and discriminator in_size 32: ConfigError naming the keys', () => {
    withNets({ out_size: 64 }, { in_size: 32 }, (g, d) => {
      throwsNaming(() => checkNetworkShapes(g, d, [32, 32, 3]), ConfigError, [
        /^model\.generator\.out_size \(64\) gives 64×64×3 images, but data\.size \(32\) gives 32×32×3 and model\.discriminator\.in_size \(32\) takes 32×32×3; make them equal$/,
      ]);
    });
  });

  test('data.size 16 against out_size and in_size 32: ConfigError naming data.size', () => {
    withNets({ out_size: 32 }, { in_size: 32 }, (g, d) => {
      throwsNaming(() => checkNetworkShapes(g, d, [16, 16, 3]), ConfigError, [
        /data\.size \(16\) gives 16×16×3/,
        /model\.generator\.out_size \(32\)/,
        /model\.discriminator\.in_size \(32\) takes 32×32×3/,
      ]);
    });
  });

  test('discriminator in_size 16 against out_size and data.size 32: ConfigError naming in_size', () => {
    withNets({ out_size: 32 }, { in_size: 16 }, (g, d) => {
      throwsNaming(() => checkNetworkShapes(g, d, [32, 32, 3]), ConfigError, [
        /model\.discriminator\.in_size \(16\) takes 16×16×3/,
      ]);
    });
  });

  test('generator out_channels 1 against RGB data: ConfigError naming out_channels', () => {
    withNets({ out_size: 8, out_channels: 1 }, { in_size: 8 }, (g, d) => {
      throwsNaming(() => checkNetworkShapes(g, d, [8, 8, 3]), ConfigError, [
        /^model\.generator\.out_channels \(1\) gives 8×8×1 images, but data \(3 channels\) gives 8×8×3 and model\.discriminator\.in_channels \(3\) takes 8×8×3/,
      ]);
    });
  });

  test('matching sizes pass the shape check', () => {
    withDemoNets((g, d) => checkNetworkShapes(g, d, [32, 32, 3]));
  });

  test('data.num_images 1e9: ResourceLimitError naming data.num_images, the estimate and the limit', () => {
    throwsNaming(
      () => checkDataSize(shapes(1e9, 32), DEFAULT_MEMORY_LIMIT_BYTES),
      ResourceLimitError,
      [/^data\.num_images: /, /= 11\.2 TiB/, /over the memory limit of 4\.0 GiB/],
    );
  });

  test('data.size 1048576: ResourceLimitError naming data.size, the estimate and the limit', () => {
    const limit = memoryLimitFor(totalmem());
    throwsNaming(() => checkDataSize(shapes(2048, 1048576), limit), ResourceLimitError, [
      /^data\.size: /,
      /data\.size² \(1048576²\)/,
      /= 24\.0 PiB/,
      /over the memory limit of \d+\.\d [GT]iB/,
    ]);
  });

  test('a dataset within the memory limit but over one Float32Array: names data.num_images', () => {
    const values = 2e6 * 32 * 32 * 3;
    assert.ok(values > MAX_TYPED_ARRAY_LENGTH);
    throwsNaming(() => checkDataSize(shapes(2e6, 32), 2 ** 50), ResourceLimitError, [
      /^data\.num_images: /,
      new RegExp(`= ${values} values, over the ${MAX_TYPED_ARRAY_LENGTH}`),
    ]);
  });

  test('the folder dataset is left to its loader, the demo data passes', () => {
    const folder = parseOptions('data', folderDataOptions, {
      type: 'folder',
      path: 'images',
      size: 1048576,
    });
    checkDataSize(folder, DEFAULT_MEMORY_LIMIT_BYTES);
    checkDataSize(demo.data, memoryLimitFor(totalmem()));
  });

  test('train.batch_size 1e9: ResourceLimitError naming train.batch_size, the estimate and the limit', () => {
    withDemoNets((g, d) => {
      throwsNaming(
        () =>
          checkStepMemory(g, d, { batch_size: 1e9, num_samples: 64 }, memoryLimitFor(totalmem())),
        ResourceLimitError,
        [
          /^train\.batch_size \(1000000000\): /,
          /needs about \d+\.\d PiB/,
          /over the memory limit of/,
        ],
      );
    });
  });

  test('a batch within the memory limit but over one typed array: names train.batch_size', () => {
    withDemoNets((g, d) => {
      throwsNaming(
        () => checkStepMemory(g, d, { batch_size: 1e6, num_samples: 64 }, 2 ** 60),
        ResourceLimitError,
        [/^train\.batch_size \(1000000\): the largest layer output/, /one typed array/],
      );
    });
  });

  test('train.num_samples 1e7: ResourceLimitError naming train.num_samples, the estimate and the limit', () => {
    withDemoNets((g, d) => {
      throwsNaming(
        () =>
          checkStepMemory(g, d, { batch_size: 32, num_samples: 1e7 }, memoryLimitFor(totalmem())),
        ResourceLimitError,
        [
          /^train\.num_samples \(10000000\): /,
          /needs about \d+\.\d GiB/,
          /over the memory limit of/,
        ],
      );
    });
  });

  test('the demo config passes every check with the CLI limit, its step well under 1 GiB', () => {
    const limit = memoryLimitFor(totalmem(), tf.getBackend());
    checkDataSize(demo.data, limit);
    withDemoNets((g, d) => {
      checkNetworkShapes(g, d, [demo.data.size, demo.data.size, 3]);
      checkStepMemory(g, d, demo.train, limit);
      checkStepMemory(g, d, demo.train, GiB);
      const bytes = estimateStepBytes(g, d, demo.train.batch_size);
      assert.ok(bytes < GiB / 2, `${bytes} bytes`);
    });
  });

  test('the step estimate bounds the measured peak of R1 and path length steps', async () => {
    const g = buildNet('model.generator', {
      type: 'DCGANGenerator',
      noise_size: 8,
      out_size: 8,
      base_channels: 8,
    });
    const d = buildNet('model.discriminator', {
      type: 'DCGANDiscriminator',
      in_size: 8,
      base_channels: 4,
    });
    const model = new GANWithCustomizedLoss({
      generator: g,
      discriminator: d,
      gan_loss: { type: 'GANLossComps', gan_type: 'hinge' },
      disc_auxiliary_loss: [
        {
          type: 'R1GradientPenaltyComps',
          loss_weight: 2,
          data_info: { discriminator: 'disc', real_data: 'real_imgs' },
        },
      ],
      gen_auxiliary_loss: [
        {
          type: 'GeneratorPathRegularizerComps',
          data_info: { generator: 'gen', num_batches: 'batch_size' },
        },
      ],
      optimizers: {
        generator: { type: 'Adam', lr: 0.001, betas: [0, 0.99] },
        discriminator: { type: 'Adam', lr: 0.001, betas: [0, 0.99] },
      },
    });
    const batchSize = 4;
    const real = shapesDataset(batchSize, 8, 0).batch([0, 1, 2, 3]);
    try {
      for (let step = 0; step < 2; step++) {
        const start = tf.memory().numBytes;
        const { peakBytes } = await tf.profile(async () => {
          await model.trainStep({ real_imgs: real });
        });
        assert.ok(peakBytes - start <= estimateStepBytes(g, d, batchSize));
      }
    } finally {
      real.dispose();
      model.dispose();
      g.dispose();
      d.dispose();
    }
  });

  test('memoryLimitFor: 60% of the machine, at most 4 GiB on wasm', () => {
    assert.equal(memoryLimitFor(10 * GiB), 6 * GiB);
    assert.equal(memoryLimitFor(100 * GiB, 'cpu'), 60 * GiB);
    assert.equal(memoryLimitFor(100 * GiB, 'wasm'), DEFAULT_MEMORY_LIMIT_BYTES);
    assert.equal(memoryLimitFor(2 * GiB, 'wasm'), Math.floor(1.2 * GiB));
  });
});
