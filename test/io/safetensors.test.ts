/**
 * The safetensors reader and the TF.js manifest reader: decoding, and every malformed or hostile
 * file is a WeightsError that says what is wrong, without allocating beyond the file's size.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  PerceptualLoss,
  parseSafetensors,
  TfjsWeights,
  tensorMapSource,
  VGGFeatures,
  WeightsError,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { weightsFixture } from '../helpers/reference.ts';
import { f32, type RawTensor, writeSafetensors } from './safetensors-writer.ts';

before(async () => {
  await useTestBackend();
});

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof WeightsError, `expected a WeightsError, got ${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/**
 * `rejects` for a file of `tensors` (by default `w`, two F32 values) whose header has the entries
 * `header` instead of those written.
 */
function rejectsHeader(
  header: Record<string, unknown>,
  pattern: RegExp,
  tensors: Record<string, RawTensor> = { w: f32([2], [1, 2]) },
): void {
  rejects(() => parseSafetensors(writeSafetensors(tensors, { header })), pattern);
}

describe('safetensors reader', () => {
  test('decodes F32, F16, BF16, I64, U8 and reads metadata, from an offset view', () => {
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x7c00]).buffer);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([7n, -3n]).buffer);
    const file = writeSafetensors(
      {
        a: f32([2, 2], [1, 2.5, -3, 4]),
        h: { dtype: 'F16', shape: [4], bytes: half },
        b: { dtype: 'BF16', shape: [2], bytes: bf16 },
        i: { dtype: 'I64', shape: [2], bytes: i64 },
        u: { dtype: 'U8', shape: [1, 3], bytes: new Uint8Array([0, 128, 255]) },
        empty: { dtype: 'F32', shape: [0, 3], bytes: new Uint8Array(0) },
      },
      { metadata: { format: 'pt' } },
    );
    // A Uint8Array view at a nonzero, unaligned offset of a larger buffer.
    const padded = new Uint8Array(file.byteLength + 3);
    padded.set(file, 3);
    const st = parseSafetensors(padded.subarray(3), 'test.safetensors');
    assert.deepEqual(st.metadata, { format: 'pt' });
    assert.deepEqual(st.names(), ['a', 'h', 'b', 'i', 'u', 'empty']);
    assert.deepEqual(Array.from(st.read('a').values), [1, 2.5, -3, 4]);
    assert.deepEqual(st.read('a').shape, [2, 2]);
    const h = Array.from(st.read('h').values);
    assert.deepEqual([h[0], h[1], h[3]], [1, -2, Number.POSITIVE_INFINITY]);
    assert.ok(Math.abs(h[2] - 0.33325195) < 1e-7);
    assert.deepEqual(Array.from(st.read('b').values), [1, -3]);
    assert.deepEqual(st.read('i'), { dtype: 'int32', shape: [2], values: new Int32Array([7, -3]) });
    assert.deepEqual(Array.from(st.read('u').values), [0, 128, 255]);
    assert.equal(st.read('empty').values.length, 0);
    const t = st.tensor('a');
    assert.deepEqual(t.shape, [2, 2]);
    t.dispose();
    rejects(() => st.read('nope'), /no tensor named 'nope'/);
  });

  const good = () =>
    writeSafetensors({ w: f32([2, 3], [1, 2, 3, 4, 5, 6]), b: f32([3], [1, 2, 3]) });

  test('a file shorter than 8 bytes', () => {
    rejects(
      () => parseSafetensors(new Uint8Array(5)),
      /5 bytes, fewer than the 8-byte header length/,
    );
  });

  test('a truncated file', () => {
    const file = good();
    rejects(
      () => parseSafetensors(file.subarray(0, file.byteLength - 4)),
      /'b' has data_offsets \[24, 36\] outside the data section of 32 bytes/,
    );
    rejects(
      () => parseSafetensors(file.subarray(0, 20)),
      /header length is \d+ bytes but the file has only 12 bytes after it/,
    );
  });

  test('a header length beyond the file, and a huge one, are refused before any allocation', () => {
    const file = good();
    const view = new DataView(file.buffer);
    view.setUint32(0, 1_000_000, true);
    rejects(() => parseSafetensors(file), /header length is 1000000 bytes but the file has only/);
    view.setUint32(0, 0, true);
    view.setUint32(4, 0xffffffff, true); // ~1.8e19
    rejects(() => parseSafetensors(file), /header length is \d+ bytes but the file has only/);
  });

  test('offsets out of range, reversed, or overlapping', () => {
    rejectsHeader(
      { w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      /'w' has data_offsets \[4, 12\] outside the data section of 8 bytes/,
    );
    rejectsHeader(
      { w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } },
      /outside the data section/,
    );
    rejectsHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, /not \[begin, end\]/);
    rejectsHeader(
      { b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      /byte ranges of 'a' and 'b' overlap/,
      { a: f32([2], [1, 2]), b: f32([2], [3, 4]) },
    );
  });

  test('a shape that does not match the byte range (including an overflowing one)', () => {
    rejectsHeader(
      { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } },
      /'w' \(F32, shape \[3\]\) needs 12 bytes but its data_offsets \[0, 8\] span 8/,
    );
    rejectsHeader(
      { w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } },
      /needs more than/,
    );
    rejectsHeader(
      { w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } },
      /not a list of non-negative integers/,
    );
  });

  test('a wrong dtype, and a dtype genloss cannot decode', () => {
    rejectsHeader(
      { w: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } },
      /'w' has dtype "F33"; known dtypes: F64, F32, F16, BF16/,
    );
    const st = parseSafetensors(
      writeSafetensors({ w: { dtype: 'F8_E4M3', shape: [2], bytes: new Uint8Array(2) } }),
    );
    rejects(() => st.read('w'), /F8_E4M3, which genloss cannot decode/);
    const big = parseSafetensors(
      writeSafetensors({
        i: {
          dtype: 'I64',
          shape: [1],
          bytes: new Uint8Array(new BigInt64Array([2n ** 40n]).buffer),
        },
      }),
    );
    rejects(() => big.read('i'), /outside the int32 range/);
  });

  test('a header that is not JSON, not UTF-8, or not an object', () => {
    const bad = (text: Uint8Array) => {
      const out = new Uint8Array(8 + text.byteLength);
      new DataView(out.buffer).setUint32(0, text.byteLength, true);
      out.set(text, 8);
      return out;
    };
    rejects(() => parseSafetensors(bad(new TextEncoder().encode('{"w": '))), /not UTF-8 JSON/);
    rejects(
      () => parseSafetensors(bad(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))),
      /not UTF-8 JSON/,
    );
    rejects(() => parseSafetensors(bad(new TextEncoder().encode('[1, 2]'))), /not a JSON object/);
    rejects(
      () => parseSafetensors(bad(new TextEncoder().encode('{"w": 3}'))),
      /entry of 'w' is not an object/,
    );
  });

  test('the PyTorch-written fixture loads; wrong shapes for the network are WeightsErrors', () => {
    const st = parseSafetensors(
      weightsFixture('vgg19_small.safetensors'),
      'vgg19_small.safetensors',
    );
    assert.equal(st.metadata.format, 'pt');
    const vgg = VGGFeatures.load('vgg19', st);
    vgg.dispose();
    const map: Record<string, tf.Tensor> = {};
    for (const name of st.names()) map[name] = st.tensor(name);
    const withShape = (name: string, t: tf.Tensor) =>
      tensorMapSource({ ...map, [name]: t }, 'edited');
    rejects(
      () => VGGFeatures.load('vgg19', withShape('features.2.weight', tf.zeros([4, 5, 3, 3]))),
      /VGGFeatures\(vgg19\): weight 'features.2.weight' in edited must have shape \[\?, 4, 3, 3\], got \[4, 5, 3, 3\]/,
    );
    rejects(
      () => VGGFeatures.load('vgg19', withShape('features.0.bias', tf.zeros([5]))),
      /'features.0.bias' in edited must have shape \[4\], got \[5\]/,
    );
    const { 'features.5.weight': _, ...missing } = map;
    rejects(
      () => VGGFeatures.load('vgg19', tensorMapSource(missing, 'cut')),
      /cut has no weight 'features.5.weight'/,
    );
    // Loading only what the loss needs: features[0..2] of a file with no later layers works.
    const loss = new PerceptualLoss({ layer_weights: { '2': 1 } });
    loss.loadWeights(
      tensorMapSource({
        'features.0.weight': map['features.0.weight'],
        'features.0.bias': map['features.0.bias'],
        'features.2.weight': map['features.2.weight'],
        'features.2.bias': map['features.2.bias'],
      }),
    );
    loss.dispose();
    rejects(
      () =>
        new PerceptualLoss({ layer_weights: { '2': 1 } }).loadWeights(
          weightsFixture('vgg19_small.safetensors').subarray(0, 1000),
        ),
      /vgg19: not a valid safetensors file/,
    );
    tf.dispose(Object.values(map));
  });
});

describe('TF.js weights manifest reader', () => {
  const manifest = [
    {
      paths: ['a.bin'],
      weights: [
        {
          name: 'q',
          shape: [2],
          dtype: 'float32',
          quantization: { dtype: 'uint8', scale: 0.5, min: -1 },
        },
        { name: 'f', shape: [1], dtype: 'float32' },
      ],
    },
  ];
  const bytes = () => {
    const out = new Uint8Array(6);
    out.set([0, 4], 0);
    new DataView(out.buffer).setFloat32(2, 1.5, true);
    return out;
  };

  test('dequantizes and decodes', () => {
    const w = TfjsWeights.parse(manifest, bytes(), 'm');
    assert.deepEqual(Array.from(w.read('q').values), [-1, 1]);
    assert.deepEqual(Array.from(w.read('f').values), [1.5]);
    assert.deepEqual(w.names(), ['q', 'f']);
  });

  test('truncated or oversized shards, unknown dtypes and bad manifests are WeightsErrors', () => {
    rejects(
      () => TfjsWeights.parse(manifest, bytes().subarray(0, 5), 'm'),
      /'f' needs bytes \[2, 6\) but the weight data has 5 bytes/,
    );
    rejects(
      () => TfjsWeights.parse(manifest, new Uint8Array(9), 'm'),
      /need 6 bytes but the weight data has 9/,
    );
    rejects(
      () =>
        TfjsWeights.parse(
          [{ paths: [], weights: [{ name: 'x', shape: [1], dtype: 'complex64' }] }],
          new Uint8Array(8),
        ),
      /'x' has dtype "complex64"/,
    );
    rejects(() => TfjsWeights.parse({ nope: 1 }, new Uint8Array(0)), /not a list of weight groups/);
  });
});
