import type * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { WeightsError } from '../core/errors.ts';

/**
 * Encodes tensors (float32 as F32, int32 as I32) and string metadata as a safetensors file — the
 * format `parseSafetensors` reads: 8-byte little-endian header length, JSON header with
 * `data_offsets` into the data section, then the raw little-endian data, tensors in name order.
 */
export function encodeSafetensors(
  tensors: Record<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    const t = tensors[name];
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      throw new WeightsError(
        `encodeSafetensors: '${name}' must be float32 or int32, got ${describeValue(t)}`,
      );
    }
    const values = t.dataSync() as Float32Array | Int32Array;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
    header[name] = {
      dtype: t.dtype === 'float32' ? 'F32' : 'I32',
      shape: t.shape,
      data_offsets: [offset, offset + bytes.byteLength],
    };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data section starts 8-byte aligned, as the reference writer.
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setUint32(0, padded, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + padded);
  let at = 8 + padded;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
