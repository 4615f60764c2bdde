import * as tf from '@tensorflow/tfjs';
import { WeightsError } from '../core/errors.ts';

/**
 * The element types of the safetensors format and their sizes in bytes. genloss decodes the
 * float types (F64, F32, F16, BF16) to float32 and the integer types to int32 (I64/U32 values
 * outside the int32 range are an error); the others are recognised in headers but not decoded.
 */
export const SAFETENSORS_DTYPES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

/** A dtype string of the safetensors format. */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** One tensor's header entry: dtype, shape and byte range inside the data section. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data section, `[begin, end)`. */
  readonly begin: number;
  readonly end: number;
}

/** A decoded tensor: float types as float32, integer types as int32. */
export interface DecodedTensor {
  readonly dtype: 'float32' | 'int32';
  readonly shape: number[];
  readonly values: Float32Array | Int32Array;
}

/** The header-length limit of the format (100 MB), as the reference implementation. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

const DECODABLE = new Set<SafetensorsDtype>([
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'U64',
  'I32',
  'U32',
  'I16',
  'U16',
  'I8',
  'U8',
  'BOOL',
]);

function toBytes(data: ArrayBuffer | ArrayBufferView, source: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new WeightsError(`${source}: expected an ArrayBuffer or Uint8Array`);
}

/** IEEE 754 half-precision bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * A parsed safetensors file (the format of Hugging Face `model.safetensors` and of
 * `safetensors.torch.save_file`): 8-byte little-endian header length `n`, `n` bytes of JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {..}}`, then the raw
 * little-endian data.
 *
 * Parsing validates everything before any tensor is read, so a truncated or hostile file is a
 * `WeightsError` and never an allocation beyond the file's size: the header length must fit in
 * the file (and the 100 MB limit), the header must be UTF-8 JSON of the shape above, each dtype
 * must be a known one, each shape a list of non-negative integers, and each byte range must lie
 * inside the data section, be as long as `prod(shape) · itemsize`, and not overlap another.
 * Tensors are decoded on demand (`read`), into fresh aligned arrays.
 */
export class SafetensorsFile {
  /** `__metadata__` of the header (string → string), `{}` when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries = new Map<string, SafetensorsEntry>();
  private readonly data: Uint8Array;

  private constructor(
    readonly source: string,
    bytes: Uint8Array,
  ) {
    const fail = (why: string): never => {
      throw new WeightsError(`${source}: not a valid safetensors file: ${why}`);
    };
    if (bytes.byteLength < 8) {
      fail(`the file has ${bytes.byteLength} bytes, fewer than the 8-byte header length`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const lo = view.getUint32(0, true);
    const hi = view.getUint32(4, true);
    const headerLength = hi * 2 ** 32 + lo;
    if (headerLength > bytes.byteLength - 8) {
      fail(
        `the header length is ${headerLength} bytes but the file has only ${bytes.byteLength - 8} bytes after it (truncated file?)`,
      );
    }
    if (headerLength > SAFETENSORS_MAX_HEADER) {
      fail(`the header length ${headerLength} exceeds the format's limit of 100 MB`);
    }
    if (headerLength < 2) fail(`the header length is ${headerLength}`);
    let header: unknown;
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(8, 8 + headerLength),
      );
      header = JSON.parse(text);
    } catch (err) {
      fail(`the header is not UTF-8 JSON (${(err as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      fail('the header is not a JSON object');
    }
    this.data = bytes.subarray(8 + headerLength);
    const dataLength = this.data.byteLength;
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
          fail('__metadata__ is not an object');
        }
        metadata = Object.fromEntries(
          Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
        );
        continue;
      }
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        fail(`the entry of '${name}' is not an object`);
      }
      const { dtype, shape, data_offsets } = raw as Record<string, unknown>;
      if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPES)) {
        fail(
          `'${name}' has dtype ${JSON.stringify(dtype)}; known dtypes: ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`,
        );
      }
      const itemSize = SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        fail(`'${name}' has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
      }
      if (
        !Array.isArray(data_offsets) ||
        data_offsets.length !== 2 ||
        !data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)
      ) {
        fail(`'${name}' has data_offsets ${JSON.stringify(data_offsets)}, not [begin, end]`);
      }
      const [begin, end] = data_offsets as number[];
      if (begin > end || end > dataLength) {
        fail(
          `'${name}' has data_offsets [${begin}, ${end}] outside the data section of ${dataLength} bytes`,
        );
      }
      // The element count is bounded by the byte range, so no product can overflow unnoticed.
      const dims = shape as number[];
      let count = 1;
      let early = false;
      for (const [i, d] of dims.entries()) {
        count *= d;
        if (count * itemSize > end - begin && i < dims.length - 1 && !dims.includes(0)) {
          early = true;
          break;
        }
      }
      if (count * itemSize !== end - begin) {
        fail(
          `'${name}' (${dtype}, shape [${dims.join(', ')}]) needs ${early ? 'more than ' : ''}${
            count * itemSize
          } bytes but its data_offsets [${begin}, ${end}] span ${end - begin}`,
        );
      }
      this.entries.set(name, {
        name,
        dtype: dtype as SafetensorsDtype,
        shape: (shape as number[]).slice(),
        begin,
        end,
      });
    }
    const sorted = [...this.entries.values()]
      .filter((e) => e.end > e.begin)
      .sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].begin < sorted[i - 1].end) {
        fail(`the byte ranges of '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
      }
    }
    this.metadata = metadata;
  }

  /**
   * Parses a safetensors file held in memory. `source` names the file in error messages.
   * The bytes are referenced, not copied, until a tensor is read.
   */
  static parse(data: ArrayBuffer | ArrayBufferView, source = 'safetensors'): SafetensorsFile {
    return new SafetensorsFile(source, toBytes(data, source));
  }

  /** The tensor names, in header order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Whether the file has a tensor called `name`. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The header entry of `name`; a `WeightsError` when it is missing. */
  entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new WeightsError(`${this.source}: no tensor named '${name}'`);
    return e;
  }

  /** Decodes one tensor into a new array: float dtypes → float32, integer dtypes → int32. */
  read(name: string): DecodedTensor {
    const e = this.entry(name);
    if (!DECODABLE.has(e.dtype)) {
      throw new WeightsError(
        `${this.source}: '${name}' has dtype ${e.dtype}, which genloss cannot decode`,
      );
    }
    const bytes = this.data.subarray(e.begin, e.end);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = bytes.byteLength / SAFETENSORS_DTYPES[e.dtype];
    const shape = e.shape.slice();
    const ints = (get: (i: number) => number): DecodedTensor => {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (v > 2147483647 || v < -2147483648) {
          throw new WeightsError(
            `${this.source}: '${name}' (${e.dtype}) holds ${v}, outside the int32 range`,
          );
        }
        out[i] = v;
      }
      return { dtype: 'int32', shape, values: out };
    };
    const floats = (get: (i: number) => number): DecodedTensor => {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = get(i);
      return { dtype: 'float32', shape, values: out };
    };
    switch (e.dtype) {
      case 'F32':
        return floats((i) => view.getFloat32(4 * i, true));
      case 'F64':
        return floats((i) => view.getFloat64(8 * i, true));
      case 'F16':
        return floats((i) => halfToFloat(view.getUint16(2 * i, true)));
      case 'BF16': {
        const out = new Float32Array(n);
        const u = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) u[i] = view.getUint16(2 * i, true) << 16;
        return { dtype: 'float32', shape, values: out };
      }
      case 'I64':
        return ints((i) => Number(view.getBigInt64(8 * i, true)));
      case 'U64':
        return ints((i) => Number(view.getBigUint64(8 * i, true)));
      case 'I32':
        return ints((i) => view.getInt32(4 * i, true));
      case 'U32':
        return ints((i) => view.getUint32(4 * i, true));
      case 'I16':
        return ints((i) => view.getInt16(2 * i, true));
      case 'U16':
        return ints((i) => view.getUint16(2 * i, true));
      case 'I8':
        return ints((i) => view.getInt8(i));
      default:
        return ints((i) => view.getUint8(i));
    }
  }

  /** One tensor as a `tf.Tensor` (float32 or int32); the caller owns it. */
  tensor(name: string): tf.Tensor {
    const d = this.read(name);
    return tf.tensor(d.values, d.shape, d.dtype);
  }
}

/** Parses safetensors bytes: `SafetensorsFile.parse(data, source)`. */
export function parseSafetensors(
  data: ArrayBuffer | ArrayBufferView,
  source = 'safetensors',
): SafetensorsFile {
  return SafetensorsFile.parse(data, source);
}
