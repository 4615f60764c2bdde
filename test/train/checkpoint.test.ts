/**
 * Checkpoint integrity and validation (src/train/checkpoint.ts), on a real Trainer of
 * test/fixtures/tiny-train.yaml after two steps: a flipped bit anywhere is a checksum mismatch;
 * every metadata field and every tensor is checked against the trainer's layout, with files whose
 * checksum is valid (re-encoded through `encodeCheckpoint`, or edited and re-signed by
 * `editHeader`, an independent implementation of the documented checksum), so that each check is
 * tested on its own; a round trip is bit for bit; configDigest ignores only what cannot change the
 * numbers; failing decodes leak no tensor.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { CheckpointError } from '../../src/core/errors.ts';
import { parseOptions } from '../../src/core/options.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import {
  CHECKPOINT_FORMAT,
  configDigest,
  decodeCheckpoint,
  encodeCheckpoint,
} from '../../src/train/checkpoint.ts';
import { trainConfigOptions } from '../../src/train/config.ts';
import { shapesDataset } from '../../src/train/datasets.ts';
import { type StateLayout, Trainer, type TrainState } from '../../src/train/trainer.ts';
import { useTestBackend } from '../helpers/backend.ts';

const fixture = new URL('../fixtures/tiny-train.yaml', import.meta.url).pathname;
const raw = YAML.parse(readFileSync(fixture, 'utf8'));
const SOURCE = 'test.ckpt';

// biome-ignore lint/suspicious/noExplicitAny: a JSON header edited freely by the tests
type Header = Record<string, any>;

/**
 * Decodes `bytes`' header, lets `edit` change it, and writes the file again; with `sign`, with the
 * checksum of the edited file, computed here independently from the definition in
 * `decodeCheckpoint`'s doc: SHA-256 of the JSON of {metadata: sorted [key, value] pairs but
 * checksum, tensors: sorted [name, dtype, shape, data_offsets]}, followed by the data section.
 */
function editHeader(bytes: Uint8Array, edit: (header: Header) => void, sign = true): Uint8Array {
  const buf = Buffer.from(bytes);
  const n = Number(buf.readBigUInt64LE(0));
  const header: Header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  edit(header);
  const meta = header.__metadata__;
  if (sign) {
    const metadata = Object.keys(meta)
      .filter((k) => k !== 'checksum')
      .sort()
      .map((k) => [k, meta[k]]);
    const tensors = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, e]) => [k, e.dtype, e.shape, e.data_offsets]);
    meta.checksum = `sha256:${createHash('sha256')
      .update(JSON.stringify({ metadata, tensors }))
      .update(data)
      .digest('hex')}`;
  }
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length));
  json.copy(out, 8);
  data.copy(out, 8 + json.length);
  return new Uint8Array(out);
}

/** Renames a tensor entry of a header, defining the new name as an own property. */
function rename(header: Header, from: string, to: string): void {
  Object.defineProperty(header, to, {
    value: header[from],
    enumerable: true,
    writable: true,
    configurable: true,
  });
  delete header[from];
}

/** The bytes of the tensors of two states, and their metas, are identical. */
function assertSameState(a: TrainState, b: TrainState): void {
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
  for (const [name, t] of Object.entries(a.tensors)) {
    const u = b.tensors[name];
    assert.equal(u.dtype, t.dtype, name);
    assert.deepEqual(u.shape, t.shape, name);
    const bytes = (x: tf.Tensor) => Buffer.from((x.dataSync() as Float32Array).buffer.slice(0));
    assert.ok(bytes(u).equals(bytes(t)), `${name} is bit for bit the same`);
  }
  assert.deepEqual(b.meta, a.meta);
}

describe('checkpoints', () => {
  let trainer: Trainer;
  let layout: StateLayout;
  let digest: string;
  let good: Uint8Array;

  /** A fresh copy of the trainer's state, changed by `edit`, encoded with a valid checksum. */
  async function encodeEdited(edit: (state: TrainState) => void, run?: unknown) {
    const state = await trainer.getState();
    const original = Object.values(state.tensors);
    try {
      edit(state);
      return await encodeCheckpoint(state, digest, run);
    } finally {
      tf.dispose([...original, ...Object.values(state.tensors)]);
    }
  }

  /** The message of the CheckpointError `decodeCheckpoint` refuses `bytes` with. */
  async function refusal(bytes: Uint8Array, withDigest = digest): Promise<string> {
    try {
      const { state } = await decodeCheckpoint(bytes, SOURCE, withDigest, layout);
      tf.dispose(Object.values(state.tensors));
    } catch (e) {
      assert.ok(e instanceof CheckpointError, `a CheckpointError, got ${e}`);
      assert.ok(e.message.startsWith(`${SOURCE}: `), e.message);
      return e.message;
    }
    return assert.fail('the checkpoint was accepted');
  }

  /** The data-section offset of tensor `name` in `bytes`. */
  function offsetOf(bytes: Uint8Array, name: string): number {
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    return 8 + n + parseSafetensors(bytes).entry(name).begin;
  }

  /** Two accumulators of `net` whose shapes differ. */
  function differentlyShaped(net: 'generator' | 'discriminator'): [string, string] {
    const shapes = layout.optimizers[net]!.variableShapes;
    const k = shapes.findIndex((s) => !tf.util.arraysEqual([...s], [...shapes[0]]));
    assert.ok(k > 0, 'the network has variables of two shapes');
    return [`optimizer.${net}.0`, `optimizer.${net}.${k}`];
  }

  before(async () => {
    await useTestBackend();
    trainer = new Trainer(raw, shapesDataset(16, 8, 0));
    await trainer.trainStep();
    await trainer.trainStep();
    layout = trainer.stateLayout();
    digest = await configDigest(trainer.cfg);
    good = await encodeEdited(() => {});
  });

  after(() => {
    trainer.dispose();
  });

  test('a round trip through encode, decode and setState is bit for bit', async () => {
    const run = { parts: [{ from: 0, to: 2 }], log_offset: 123 };
    const saved = await trainer.getState();
    const restored = new Trainer(raw, shapesDataset(16, 8, 0));
    try {
      const bytes = await encodeCheckpoint(saved, digest, run);
      const decoded = await decodeCheckpoint(bytes, SOURCE, digest, layout);
      assert.deepEqual(decoded.run, run);
      assertSameState(saved, decoded.state);
      await restored.setState(decoded.state);
      tf.dispose(Object.values(decoded.state.tensors));
      const again = await restored.getState();
      assertSameState(saved, again);
      tf.dispose(Object.values(again.tensors));
      assert.equal(restored.step, 2);
    } finally {
      tf.dispose(Object.values(saved.tensors));
      restored.dispose();
    }
    const plain = await decodeCheckpoint(good, SOURCE, digest, layout);
    tf.dispose(Object.values(plain.state.tensors));
    assert.equal(plain.run, null, 'no run record decodes as null');
  });

  test('the metadata holds format, digest, state, run and a sha256 checksum', () => {
    const { metadata } = parseSafetensors(good);
    assert.deepEqual(Object.keys(metadata).sort(), [
      'checksum',
      'config_digest',
      'format',
      'run',
      'state',
    ]);
    assert.equal(metadata.format, CHECKPOINT_FORMAT);
    assert.equal(metadata.format, 'genloss-checkpoint/2');
    assert.equal(metadata.config_digest, digest);
    assert.match(metadata.checksum, /^sha256:[0-9a-f]{64}$/);
  });

  test('a file re-signed by the documented checksum definition is accepted', async () => {
    const { state } = await decodeCheckpoint(
      editHeader(good, () => {}),
      SOURCE,
      digest,
      layout,
    );
    tf.dispose(Object.values(state.tensors));
  });

  test('a flipped bit anywhere is a checksum mismatch', async () => {
    const inWeight = good.slice();
    inWeight[offsetOf(good, 'generator.0') + 5] ^= 0x10;
    assert.match(
      await refusal(inWeight),
      /the checkpoint is corrupt: checksum mismatch \(field 'checksum'/,
    );
    const inMoment = good.slice();
    inMoment[offsetOf(good, 'optimizer.discriminator.1') + 2] ^= 0x01;
    assert.match(await refusal(inMoment), /checksum mismatch/);
    // A flip in the state JSON: "step":2 becomes "step":3, a valid state.
    const text = Buffer.from(good).toString('latin1');
    const at = text.indexOf('\\"step\\":2');
    assert.ok(at > 0);
    const inState = good.slice();
    inState[at + '\\"step\\":'.length] ^= 0x01;
    assert.match(await refusal(inState), /checksum mismatch/);
    // Swapped byte ranges of two same-shaped tensors (Adam's m and v of one variable): every
    // name, dtype and shape still fits, only the checksum, which covers the ranges, tells.
    const n = layout.optimizers.generator!.variableShapes.length;
    const swappedRanges = editHeader(
      good,
      (h) => {
        const [m, v] = [h['optimizer.generator.0'], h[`optimizer.generator.${n}`]];
        [m.data_offsets, v.data_offsets] = [v.data_offsets, m.data_offsets];
      },
      false,
    );
    assert.match(await refusal(swappedRanges), /checksum mismatch/);
  });

  test('no checksum, another format, unparseable bytes', async () => {
    const noChecksum = editHeader(good, (h) => delete h.__metadata__.checksum, false);
    assert.match(await refusal(noChecksum), /has no field 'checksum'/);
    const v1 = editHeader(good, (h) => {
      h.__metadata__.format = 'genloss-checkpoint/1';
    });
    assert.match(
      await refusal(v1),
      /field 'format' is 'genloss-checkpoint\/1', expected 'genloss-checkpoint\/2'/,
    );
    assert.match(
      await refusal(good.subarray(0, good.length - 100)),
      /^test\.ckpt: not a valid safetensors file/,
    );
  });

  test('a checkpoint of another config is refused', async () => {
    assert.match(
      await refusal(good, '0123456789abcdef'),
      /made with a different config \(field 'config_digest' is '[0-9a-f]{16}', this config's is '0123456789abcdef'\); resume with the config it was made with/,
    );
  });

  test('every field of the state metadata is validated', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: metadata edited into invalid forms
    const cases: [string, (meta: any) => void, RegExp][] = [
      ['step "three"', (m) => (m.step = 'three'), /field 'state\.step' is 'three'/],
      ['step 2.5', (m) => (m.step = 2.5), /field 'state\.step' is 2\.5/],
      ['step -100', (m) => (m.step = -100), /field 'state\.step' is -100/],
      ['step 2^53', (m) => (m.step = 2 ** 53), /field 'state\.step'/],
      ['missing step', (m) => delete m.step, /field 'state\.step' is undefined/],
      [
        'missing iterations',
        (m) => delete m.optimizers.generator.iterations,
        /field 'state\.optimizers\.generator\.iterations' is undefined/,
      ],
      [
        'negative iterations',
        (m) => (m.optimizers.discriminator.iterations = -1),
        /field 'state\.optimizers\.discriminator\.iterations' is -1/,
      ],
      [
        'fractional iterations',
        (m) => (m.optimizers.discriminator.iterations = 1.5),
        /field 'state\.optimizers\.discriminator\.iterations' is 1\.5/,
      ],
      [
        'a third optimizer',
        (m) => (m.optimizers.encoder = { iterations: 1 }),
        /field 'state\.optimizers' has unknown keys 'encoder'/,
      ],
      ['missing sampler', (m) => delete m.sampler, /field 'state\.sampler' is undefined/],
      [
        'sampler position past the dataset',
        (m) => (m.sampler.position = 17),
        /field 'state\.sampler\.position' is 17/,
      ],
      [
        'negative sampler position',
        (m) => (m.sampler.position = -1),
        /field 'state\.sampler\.position' is -1/,
      ],
      [
        'a position before the first epoch',
        (m) => Object.assign(m.sampler, { started: false, position: 3 }),
        /field 'state\.sampler\.position' is 3: must be 0 before the first epoch/,
      ],
      [
        'started not a boolean',
        (m) => (m.sampler.started = 1),
        /field 'state\.sampler\.started' is 1/,
      ],
      [
        'epoch_rng past uint32',
        (m) => (m.sampler.epoch_rng = 2 ** 32),
        /field 'state\.sampler\.epoch_rng' is 4294967296/,
      ],
      ['rng.latent negative', (m) => (m.rng.latent = -5), /field 'state\.rng\.latent' is -5/],
      ['rng.default a string', (m) => (m.rng.default = '7'), /field 'state\.rng\.default' is '7'/],
      ['an extra key', (m) => (m.extra = 1), /field 'state' has unknown keys 'extra'/],
      [
        'an extra sampler key',
        (m) => (m.sampler.order = [1, 2]),
        /field 'state\.sampler' has unknown keys 'order'/,
      ],
    ];
    for (const [title, edit, pattern] of cases) {
      const bytes = await encodeEdited((state) => {
        edit(state.meta);
      });
      assert.match(await refusal(bytes), pattern, title);
    }
    const arrayMeta = editHeader(good, (h) => {
      h.__metadata__.state = '[]';
    });
    assert.match(await refusal(arrayMeta), /field 'state' is an array of length 0/);
    const notJson = editHeader(good, (h) => {
      h.__metadata__.state = '{"step": 2,';
    });
    assert.match(await refusal(notJson), /field 'state' is missing or not valid JSON/);
    const badRun = editHeader(good, (h) => {
      h.__metadata__.run = 'undefined';
    });
    assert.match(await refusal(badRun), /field 'run' is missing or not valid JSON/);
  });

  test('tensor names must be exactly the expected set', async () => {
    const missingMoment = await encodeEdited((s) => {
      delete s.tensors['optimizer.generator.3'];
    });
    assert.match(
      await refusal(missingMoment),
      /tensors do not fit this trainer: missing 'optimizer\.generator\.3'; unexpected none/,
    );
    const extra = await encodeEdited((s) => {
      s.tensors['generator.99'] = tf.zeros([2]);
      Object.assign(s.tensors, { constructor: tf.zeros([1]) });
    });
    assert.match(
      await refusal(extra),
      /missing none; unexpected 'constructor', 'generator\.99'/,
      'both unexpected names in one message',
    );
    const proto = editHeader(good, (h) => rename(h, 'generator.0', '__proto__'));
    assert.ok(Object.hasOwn(parseSafetensors(proto).metadata, 'format'));
    assert.ok(parseSafetensors(proto).has('__proto__'), 'the file has a tensor named __proto__');
    assert.match(await refusal(proto), /missing 'generator\.0'; unexpected '__proto__'/);
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
    assert.equal(({} as Record<string, unknown>).dtype, undefined, 'nothing polluted');
    const noAccumulators = await encodeEdited((s) => {
      for (const name of Object.keys(s.tensors)) {
        if (/^optimizer\.discriminator\.\d+$/.test(name)) delete s.tensors[name];
      }
    });
    assert.match(
      await refusal(noAccumulators),
      /missing 'optimizer\.discriminator\.0', .*\(state\.optimizers\.discriminator\.iterations is 2: 2×\d+ accumulators expected\)/,
    );
    const accumulatorsBeforeAStep = await encodeEdited((s) => {
      s.meta.optimizers.generator!.iterations = 0;
    });
    assert.match(
      await refusal(accumulatorsBeforeAStep),
      /unexpected 'optimizer\.generator\.0', .*\(state\.optimizers\.generator\.iterations is 0: no accumulators before the first step\)/,
    );
    const noBetaPower = await encodeEdited((s) => {
      delete s.tensors['optimizer.generator.beta2_power'];
    });
    assert.match(await refusal(noBetaPower), /missing 'optimizer\.generator\.beta2_power'/);
  });

  test('every tensor is float32, of the layout shape, and finite', async () => {
    const int32 = await encodeEdited((s) => {
      const w = s.tensors['discriminator.1'];
      s.tensors['discriminator.1'] = w.toInt();
    });
    assert.match(
      await refusal(int32),
      /tensor 'discriminator\.1' has dtype I32, expected F32 \(float32\)/,
    );
    const [a, b] = differentlyShaped('discriminator');
    const transposed = await encodeEdited((s) => {
      [s.tensors[a], s.tensors[b]] = [s.tensors[b], s.tensors[a]];
    });
    assert.match(
      await refusal(transposed),
      new RegExp(`tensor '${a.replaceAll('.', '\\.')}' has shape \\[.*\\], this trainer expects`),
    );
    const reshaped = await encodeEdited((s) => {
      const w = s.tensors['generator.0'];
      s.tensors['generator.0'] = w.reshape([w.size]);
    });
    assert.match(await refusal(reshaped), /tensor 'generator\.0' has shape \[\d+\]/);
    const nan = await encodeEdited((s) => {
      const w = s.tensors['generator.1'];
      const values = w.dataSync().slice();
      values[values.length - 1] = Number.NaN;
      s.tensors['generator.1'] = tf.tensor(values, w.shape);
    });
    assert.match(await refusal(nan), /tensor 'generator\.1' holds NaN at element \d+/);
    const infinite = await encodeEdited((s) => {
      const m = s.tensors['optimizer.generator.0'];
      s.tensors['optimizer.generator.0'] = tf.fill(m.shape, Number.POSITIVE_INFINITY);
    });
    assert.match(
      await refusal(infinite),
      /tensor 'optimizer\.generator\.0' holds Infinity at element 0/,
    );
    const beta = await encodeEdited((s) => {
      s.tensors['optimizer.discriminator.beta1_power'] = tf.scalar(1.5);
    });
    assert.match(
      await refusal(beta),
      /tensor 'optimizer\.discriminator\.beta1_power' is 1\.5, outside \[0, 1\]/,
    );
    const betaShape = await encodeEdited((s) => {
      s.tensors['optimizer.discriminator.beta2_power'] = tf.tensor1d([0.5]);
    });
    assert.match(
      await refusal(betaShape),
      /tensor 'optimizer\.discriminator\.beta2_power' has shape \[1\], this trainer expects \[\]/,
    );
  });

  test('failing decodes leak no tensor', async () => {
    const bad = [
      await encodeEdited((s) => {
        s.tensors['generator.1'] = tf.fill(s.tensors['generator.1'].shape, Number.NaN);
      }),
      await encodeEdited((s) => {
        s.tensors['optimizer.discriminator.beta1_power'] = tf.scalar(-0.5);
      }),
      await encodeEdited((s) => {
        s.tensors['discriminator.0'] = s.tensors['discriminator.0'].toInt();
      }),
      await encodeEdited((s) => {
        s.meta.step = -1;
      }),
      await encodeEdited((s) => {
        delete s.tensors['buffer.0'];
      }),
    ];
    const flipped = good.slice();
    flipped[offsetOf(good, 'discriminator.2')] ^= 0x80;
    bad.push(flipped, good.subarray(0, 50));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await refusal(bad[i % bad.length]);
    assert.equal(tf.memory().numTensors, before);
    const { state } = await decodeCheckpoint(good, SOURCE, digest, layout);
    assert.equal(tf.memory().numTensors, before + Object.keys(state.tensors).length);
    tf.dispose(Object.values(state.tensors));
    assert.equal(tf.memory().numTensors, before);
  });

  test('configDigest ignores only what cannot change the numbers', async () => {
    const digestOf = (edit: (cfg: Header) => void) => {
      const cfg = structuredClone(raw);
      edit(cfg);
      return configDigest(parseOptions('train config', trainConfigOptions, cfg));
    };
    const base = await digestOf(() => {});
    assert.match(base, /^[0-9a-f]{16}$/);
    assert.equal(base, digest);
    const same: [string, (cfg: Header) => void][] = [
      ['train.iters', (c) => (c.train.iters = 5000)],
      ['train.log_interval', (c) => (c.train.log_interval = 7)],
      ['train.sample_interval', (c) => (c.train.sample_interval = 7)],
      ['train.checkpoint_interval', (c) => (c.train.checkpoint_interval = 7)],
      ['train.num_samples', (c) => (c.train.num_samples = 64)],
      ['backend', (c) => (c.backend = 'cpu')],
      ['a spelled default', (c) => Object.assign(c.model, { skip_nonfinite: false })],
      ['an omitted default', (c) => delete c.train.num_samples],
      [
        'key order',
        (c) => {
          const { train, data, model } = c;
          for (const k of Object.keys(c)) delete c[k];
          Object.assign(c, { train, data, model });
        },
      ],
    ];
    for (const [what, edit] of same) assert.equal(await digestOf(edit), base, what);
    const spelledBatch = await digestOf((c) => delete c.train.batch_size);
    assert.equal(
      spelledBatch,
      await digestOf((c) => (c.train.batch_size = 32)),
      'batch_size omitted = its default spelled',
    );
    const different: [string, (cfg: Header) => void][] = [
      ['model.gan_loss.gan_type', (c) => (c.model.gan_loss.gan_type = 'vanilla')],
      ['train.batch_size', (c) => (c.train.batch_size = 8)],
      ['train.seed', (c) => (c.train.seed = 4)],
      ['data.num_images', (c) => (c.data.num_images = 32)],
      ['model.optimizers', (c) => (c.model.optimizers.generator.lr = 0.002)],
    ];
    for (const [what, edit] of different) assert.notEqual(await digestOf(edit), base, what);
    const folder = (maxPixels: number, skip: boolean) => (c: Header) => {
      c.data = {
        type: 'folder',
        path: 'images',
        size: 8,
        max_pixels: maxPixels,
        skip_bad_files: skip,
      };
    };
    assert.equal(
      await digestOf(folder(1e6, false)),
      await digestOf(folder(4e6, false)),
      'data.max_pixels without skip_bad_files: a limit on reading, not on the data',
    );
    assert.notEqual(
      await digestOf(folder(1e6, true)),
      await digestOf(folder(4e6, true)),
      'data.max_pixels with skip_bad_files chooses the images',
    );
  });
});
