import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { CheckpointError, WeightsError } from '../core/errors.ts';
import { parseSafetensors, type SafetensorsFile } from '../io/safetensors.ts';
import { encodeSafetensors } from '../io/safetensors-writer.ts';
import type { TrainConfig } from './config.ts';
import {
  OPTIMIZER_NAMES,
  type OptimizerName,
  type StateLayout,
  type TrainMeta,
  type TrainState,
} from './trainer.ts';

/**
 * The format tag written into every checkpoint's metadata (`format`). Version 2: the state of
 * {@link TrainState} (Adam's β powers, the sampler's O(1) state, both seed generators), the
 * `run` record and the `checksum`. A file of another version is refused.
 */
export const CHECKPOINT_FORMAT = 'genloss-checkpoint/2';

/** The sorted-key JSON of a JSON-able value: the same value always gives the same text. */
function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v === null || typeof v !== 'object') return v;
    const record = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, sorted(record[k])]),
    );
  };
  return JSON.stringify(sorted(value));
}

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', data));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The digest stored in a checkpoint (`config_digest`) so that resuming with a config that would
 * train differently is refused: the first 16 lowercase hex digits of the SHA-256 of the
 * canonical JSON (sorted keys) of the validated config, defaults filled in, so that spelling a
 * default of the train config or omitting it gives the same digest. Settings that cannot change the numbers are
 * left out: `train.iters` (a run may be resumed for more steps), `train.log_interval`,
 * `train.sample_interval`, `train.checkpoint_interval`, `train.num_samples` (the sample noise has
 * its own seed), `data.max_pixels` unless `data.skip_bad_files` (without skipping, a limit on what is read,
 * not on what is trained on: images over it fail the run before training) and `backend` (another backend rounds floats differently but trains the same
 * model, and a run may move between machines). The loss entries are hashed as written: the
 * losses, not the train config, fill in their defaults, so spelling one of those changes the
 * digest (a refused resume, never a wrong one).
 *
 * SHA-256 through `globalThis.crypto.subtle` (Node 20 and browsers), as the checksum: one hash in
 * the format, 64 bits against accidental collisions; hence async, as its callers already are.
 */
export async function configDigest(cfg: TrainConfig): Promise<string> {
  const { backend: _backend, train, data, ...model } = cfg;
  const { max_pixels, ...rest } = data as typeof data & { max_pixels?: number };
  const dataset = data.type === 'folder' && data.skip_bad_files ? data : rest;
  const {
    iters: _iters,
    log_interval: _log,
    sample_interval: _sample,
    checkpoint_interval: _checkpoint,
    num_samples: _samples,
    ...numeric
  } = train;
  const text = new TextEncoder().encode(canonicalJson({ ...model, data: dataset, train: numeric }));
  return (await sha256Hex(text)).slice(0, 16);
}

/** The `checksum` of a parsed checkpoint file, as {@link encodeCheckpoint} defines it. */
async function checksumOf(file: SafetensorsFile, bytes: Uint8Array): Promise<string> {
  const metadata = Object.keys(file.metadata)
    .filter((k) => k !== 'checksum')
    .sort()
    .map((k) => [k, file.metadata[k]]);
  const tensors = file
    .names()
    .sort()
    .map((name) => {
      const e = file.entry(name);
      return [name, e.dtype, e.shape, [e.begin, e.end]];
    });
  const head = new TextEncoder().encode(JSON.stringify({ metadata, tensors }));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = bytes.subarray(8 + Number(view.getBigUint64(0, true)));
  const input = new Uint8Array(head.byteLength + data.byteLength);
  input.set(head);
  input.set(data, head.byteLength);
  return `sha256:${await sha256Hex(input)}`;
}

/**
 * Encodes a training state as a checkpoint: a safetensors file of the state's tensors (float32 as
 * F32), whose `__metadata__` holds `format` ({@link CHECKPOINT_FORMAT}), `config_digest`
 * (`digest`, from {@link configDigest}), `state` (the JSON of `state.meta`), `run` (the JSON of
 * `run`, an opaque JSON-able record the caller keeps with the state; `null` when absent) and
 * `checksum`: `sha256:` and the 64 hex digits of the SHA-256 of
 * `UTF-8(JSON.stringify({metadata, tensors})) ‖ data section`, where `metadata` is every
 * `__metadata__` entry but `checksum` as `[key, value]` pairs sorted by key, `tensors` every
 * header entry as `[name, dtype, shape, [begin, end]]` sorted by name, and the data section every
 * byte after the header. Only the 8-byte length prefix and the header's layout (spacing, key
 * order) are outside it, and neither holds anything the decoder uses: a flipped bit anywhere else
 * is a mismatch. The caller keeps ownership of the state's tensors.
 */
export async function encodeCheckpoint(
  state: TrainState,
  digest: string,
  run?: unknown,
): Promise<Uint8Array> {
  const fields = {
    format: CHECKPOINT_FORMAT,
    config_digest: digest,
    state: JSON.stringify(state.meta),
    run: JSON.stringify(run ?? null),
  };
  // The file is encoded once with a placeholder checksum of the final length, hashed (the
  // checksum leaves its own field out), and the placeholder overwritten in place.
  const bytes = encodeSafetensors(state.tensors, { ...fields, checksum: CHECKSUM_PLACEHOLDER });
  const checksum = await checksumOf(parseSafetensors(bytes, 'encodeCheckpoint'), bytes);
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = new TextDecoder().decode(bytes.subarray(8, headerEnd));
  const at = header.indexOf(CHECKSUM_PLACEHOLDER);
  if (at < 0 || header.indexOf(CHECKSUM_PLACEHOLDER, at + 1) >= 0) {
    throw new Error('encodeCheckpoint: the checksum placeholder is not once in the header');
  }
  // A byte offset: the header may hold multi-byte characters before the placeholder.
  const offset = 8 + new TextEncoder().encode(header.slice(0, at)).length;
  bytes.set(new TextEncoder().encode(checksum), offset);
  return bytes;
}

/** A `checksum` value of the final length (`sha256:` and 64 hex digits), overwritten in place. */
const CHECKSUM_PLACEHOLDER = `sha256:${'0'.repeat(64)}`;

const uint32 = z.int().min(0).max(0xffffffff);
const optimizerMeta = z.strictObject({
  // TF.js keeps the count in an int32 scalar.
  iterations: z.int().min(0).max(0x7fffffff),
});

/** The optimizer names of a layout, in order. */
const optimizerNames = (layout: StateLayout): OptimizerName[] =>
  OPTIMIZER_NAMES.filter((name) => layout.optimizers[name] !== undefined);

/** The schema of {@link TrainMeta} for a trainer of `layout`. */
function metaSchema(layout: StateLayout): z.ZodType<TrainMeta> {
  const datasetSize = layout.datasetSize;
  return z.strictObject({
    step: z.int().min(0),
    optimizers: z.strictObject(
      Object.fromEntries(optimizerNames(layout).map((name) => [name, optimizerMeta])),
    ),
    sampler: z
      .strictObject({
        epoch_rng: uint32,
        started: z.boolean(),
        position: z.int().min(0).max(datasetSize),
      })
      .refine((s) => s.started || s.position === 0, {
        path: ['position'],
        message: 'must be 0 before the first epoch starts (started is false)',
      }),
    rng: z.strictObject(Object.fromEntries(layout.rngs.map((name) => [name, uint32]))),
  });
}

/** The value at `path` inside `value`, for error messages. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * The tensors a checkpoint of `layout` with optimizer iteration counts from `meta` must hold, and
 * their shapes: the weights and buffers; per optimizer with accumulators (`slots` > 0) that has
 * stepped (iterations > 0), `slots`·n accumulators `optimizer.<net>.<j>`, accumulator j shaped as
 * variable j mod n (none before the first step: TF.js creates them then); for Adam, the scalars
 * `optimizer.<net>.beta1_power` and `beta2_power`.
 */
function expectedTensors(layout: StateLayout, meta: TrainMeta): Map<string, readonly number[]> {
  const expected = new Map(Object.entries(layout.tensors));
  for (const net of optimizerNames(layout)) {
    const { variableShapes, slots, betaPowers } = layout.optimizers[net]!;
    if (meta.optimizers[net]!.iterations > 0) {
      const n = variableShapes.length;
      for (let j = 0; j < slots * n; j++)
        expected.set(`optimizer.${net}.${j}`, variableShapes[j % n]);
    }
    if (betaPowers) {
      expected.set(`optimizer.${net}.beta1_power`, []);
      expected.set(`optimizer.${net}.beta2_power`, []);
    }
  }
  return expected;
}

const isBetaPower = (name: string) => /^optimizer\.\w+\.beta[12]_power$/.test(name);

/** Why an optimizer's accumulators are expected or not, for the tensor-names message. */
function accumulatorNote(layout: StateLayout, meta: TrainMeta, names: string[]): string {
  return optimizerNames(layout)
    .filter(
      (net) =>
        layout.optimizers[net]!.slots > 0 &&
        names.some((n) => new RegExp(`^optimizer\\.${net}\\.\\d+$`).test(n)),
    )
    .map((net) => {
      const { iterations } = meta.optimizers[net]!;
      const { slots, variableShapes } = layout.optimizers[net]!;
      return iterations > 0
        ? ` (state.optimizers.${net}.iterations is ${iterations}: ${slots}×${variableShapes.length} accumulators expected)`
        : ` (state.optimizers.${net}.iterations is 0: no accumulators before the first step)`;
    })
    .join('');
}

/**
 * Decodes a checkpoint written by {@link encodeCheckpoint} for a trainer of `layout`, refusing
 * anything that could not be resumed exactly. In order, each failure a `CheckpointError` whose
 * message starts with `${source}: ` and names the field: the bytes must be a valid safetensors
 * file; `format` must be {@link CHECKPOINT_FORMAT}; `checksum` must match the contents (see
 * {@link encodeCheckpoint}: a flipped bit is "the checkpoint is corrupt"); `config_digest` must be
 * `digest`; `state` must be JSON of a {@link TrainMeta} (every field checked, no other key: step a
 * non-negative integer, iteration counts non-negative int32, sampler position within
 * `layout.datasetSize`, seeds uint32); `run` must be JSON; the tensor names must be exactly the
 * expected ones (the layout's, plus each optimizer's accumulators when it has stepped and Adam's β
 * powers; missing and unexpected names listed together); every tensor must be F32, shaped as the
 * layout says, and finite, and each β power in [0, 1]. Everything is checked before any tensor is
 * made, so a refused file allocates nothing; the returned tensors (and `run`, the record given to
 * `encodeCheckpoint`) are the caller's.
 */
export async function decodeCheckpoint(
  bytes: Uint8Array,
  source: string,
  digest: string,
  layout: StateLayout,
): Promise<{ state: TrainState; run: unknown }> {
  const fail: (why: string) => never = (why) => {
    throw new CheckpointError(`${source}: ${why}`);
  };
  let file: SafetensorsFile;
  try {
    file = parseSafetensors(bytes, source);
  } catch (err) {
    if (err instanceof WeightsError) throw new CheckpointError(err.message, { cause: err });
    throw err;
  }
  const { metadata } = file;
  if (metadata.format !== CHECKPOINT_FORMAT) {
    fail(
      `not a genloss checkpoint of this version: field 'format' is ${describeValue(metadata.format)}, expected '${CHECKPOINT_FORMAT}'`,
    );
  }
  if (metadata.checksum === undefined) fail(`the checkpoint has no field 'checksum'`);
  const checksum = await checksumOf(file, bytes);
  if (metadata.checksum !== checksum) {
    fail(
      `the checkpoint is corrupt: checksum mismatch (field 'checksum' is ${describeValue(metadata.checksum)}, the contents hash to '${checksum}')`,
    );
  }
  if (metadata.config_digest !== digest) {
    fail(
      `the checkpoint was made with a different config (field 'config_digest' is ${describeValue(metadata.config_digest)}, this config's is '${digest}'); resume with the config it was made with`,
    );
  }
  const parseJson = (field: string): unknown => {
    try {
      return JSON.parse(metadata[field] ?? '');
    } catch {
      return fail(`field '${field}' is missing or not valid JSON`);
    }
  };
  const rawMeta = parseJson('state');
  const parsed = metaSchema(layout).safeParse(rawMeta);
  if (!parsed.success) {
    fail(
      parsed.error.issues
        .map((issue) => {
          const path = ['state', ...issue.path.map(String)].join('.');
          return issue.code === 'unrecognized_keys'
            ? `field '${path}' has unknown keys ${issue.keys.map((k) => `'${k}'`).join(', ')}`
            : `field '${path}' is ${describeValue(valueAt(rawMeta, issue.path))}: ${issue.message}`;
        })
        .join('; '),
    );
  }
  const meta = parsed.data;
  const run = parseJson('run');

  const expected = expectedTensors(layout, meta);
  const names = file.names();
  const missing = [...expected.keys()].filter((n) => !file.has(n));
  const unexpected = names.filter((n) => !expected.has(n));
  if (missing.length > 0 || unexpected.length > 0) {
    fail(
      `the checkpoint's tensors do not fit this trainer: missing ${missing.map((n) => `'${n}'`).join(', ') || 'none'}; unexpected ${unexpected.map((n) => `'${n}'`).join(', ') || 'none'}${accumulatorNote(layout, meta, [...missing, ...unexpected])}`,
    );
  }
  for (const name of names) {
    const { dtype, shape } = file.entry(name);
    const want = expected.get(name) as readonly number[];
    if (dtype !== 'F32') fail(`tensor '${name}' has dtype ${dtype}, expected F32 (float32)`);
    if (!tf.util.arraysEqual(shape as number[], want as number[])) {
      fail(
        `tensor '${name}' has shape [${shape.join(', ')}], this trainer expects [${want.join(', ')}]`,
      );
    }
  }
  const values = new Map<string, Float32Array>();
  for (const name of names) {
    const data = file.read(name).values as Float32Array;
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      fail(
        `tensor '${name}' holds ${data[bad]} at element ${bad}; a checkpoint holds finite values`,
      );
    if (isBetaPower(name) && !(data[0] >= 0 && data[0] <= 1)) {
      fail(`tensor '${name}' is ${data[0]}, outside [0, 1]`);
    }
    values.set(name, data);
  }
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const [name, data] of values)
      tensors[name] = tf.tensor(data, file.entry(name).shape as number[], 'float32');
  } catch (err) {
    tf.dispose(Object.values(tensors));
    throw err;
  }
  return { state: { tensors, meta }, run };
}
