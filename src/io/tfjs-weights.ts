import { WeightsError } from '../core/errors.ts';
import { type DecodedTensor, halfToFloat } from './safetensors.ts';

/** One weight of a TF.js weights manifest (`*-weights_manifest.json` / `model.json`). */
export interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** A group of a TF.js weights manifest: its shard files and the weights they hold, in order. */
export interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

const BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * The weights of a TF.js weights manifest (the format of `tf.io` and of face-api's model files),
 * decoded and validated: the manifest must be a list of groups with named weights of known dtype
 * (float32, int32, bool; quantized uint8, uint16 or float16) and integer shapes, and the shard
 * bytes, concatenated in manifest order, must be exactly as long as the weights need. Quantized
 * weights are dequantized as TF.js does (`v · scale + min`; float16 by value).
 */
export class TfjsWeights {
  private readonly decoded = new Map<string, DecodedTensor>();

  private constructor(
    readonly source: string,
    manifest: unknown,
    data: Uint8Array,
  ) {
    const fail = (why: string): never => {
      throw new WeightsError(`${source}: invalid TF.js weights manifest: ${why}`);
    };
    if (!Array.isArray(manifest)) fail('the manifest is not a list of weight groups');
    const weights: ManifestWeight[] = [];
    for (const [g, group] of (manifest as unknown[]).entries()) {
      const ws = (group as { weights?: unknown })?.weights;
      if (!Array.isArray(ws)) fail(`group ${g} has no 'weights' list`);
      weights.push(...(ws as ManifestWeight[]));
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    for (const w of weights) {
      const name = typeof w?.name === 'string' ? w.name : fail('a weight has no name');
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        fail(`'${name}' has shape ${JSON.stringify(w.shape)}`);
      }
      const q = w.quantization;
      const stored = q ? q.dtype : w.dtype;
      if (!['float32', 'int32', 'bool'].includes(w.dtype) || !(stored in BYTES)) {
        fail(`'${name}' has dtype ${JSON.stringify(w.dtype)} / ${JSON.stringify(stored)}`);
      }
      const count = w.shape.reduce((a, b) => a * b, 1);
      const size = count * BYTES[stored];
      if (offset + size > data.byteLength) {
        fail(
          `'${name}' needs bytes [${offset}, ${offset + size}) but the weight data has ${data.byteLength} bytes (truncated shard?)`,
        );
      }
      const dtype = w.dtype === 'float32' ? 'float32' : 'int32';
      const values = dtype === 'float32' ? new Float32Array(count) : new Int32Array(count);
      const scale = q?.scale ?? 1;
      const min = q?.min ?? 0;
      for (let i = 0; i < count; i++) {
        const at = offset + i * BYTES[stored];
        switch (stored) {
          case 'uint8':
            values[i] = view.getUint8(at) * scale + min;
            break;
          case 'uint16':
            values[i] = view.getUint16(at, true) * scale + min;
            break;
          case 'float16':
            values[i] = halfToFloat(view.getUint16(at, true));
            break;
          case 'float32':
            values[i] = view.getFloat32(at, true);
            break;
          case 'int32':
            values[i] = view.getInt32(at, true);
            break;
          default:
            values[i] = view.getUint8(at);
        }
      }
      offset += size;
      this.decoded.set(name, { dtype, shape: w.shape.slice(), values });
    }
    if (offset !== data.byteLength) {
      fail(`the weights need ${offset} bytes but the weight data has ${data.byteLength}`);
    }
  }

  /**
   * Decodes a manifest (the parsed JSON: a list of groups, or a `model.json` object with
   * `weightsManifest`) with its shard bytes, concatenated in the order of the manifest's paths.
   */
  static parse(
    manifest: unknown,
    shards: ArrayBuffer | ArrayBufferView | (ArrayBuffer | ArrayBufferView)[],
    source = 'tfjs weights',
  ): TfjsWeights {
    const groups =
      manifest && typeof manifest === 'object' && 'weightsManifest' in manifest
        ? (manifest as { weightsManifest: unknown }).weightsManifest
        : manifest;
    const parts = (Array.isArray(shards) ? shards : [shards]).map((s) =>
      s instanceof ArrayBuffer
        ? new Uint8Array(s)
        : new Uint8Array(s.buffer, s.byteOffset, s.byteLength),
    );
    const total = parts.reduce((a, p) => a + p.byteLength, 0);
    const data = parts.length === 1 ? parts[0] : new Uint8Array(total);
    if (parts.length > 1) {
      let at = 0;
      for (const p of parts) {
        data.set(p, at);
        at += p.byteLength;
      }
    }
    return new TfjsWeights(source, groups, data);
  }

  /** The weight names, in manifest order. */
  names(): string[] {
    return [...this.decoded.keys()];
  }

  /** Whether the manifest has a weight called `name`. */
  has(name: string): boolean {
    return this.decoded.has(name);
  }

  /** One decoded weight; a `WeightsError` when it is missing. */
  read(name: string): DecodedTensor {
    const d = this.decoded.get(name);
    if (!d) throw new WeightsError(`${this.source}: no weight named '${name}'`);
    return d;
  }
}
