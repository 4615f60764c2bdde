/** A minimal safetensors writer for tests (the format: u64 LE header length, JSON, raw data). */
export interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Float32 values as a raw F32 tensor. */
export function f32(shape: number[], values: number[]): RawTensor {
  return { dtype: 'F32', shape, bytes: new Uint8Array(new Float32Array(values).buffer) };
}

/** Writes tensors in order; `header` entries override the computed ones (for hostile files). */
export function writeSafetensors(
  tensors: Record<string, RawTensor>,
  {
    metadata,
    header: overrides = {},
  }: { metadata?: Record<string, string>; header?: Record<string, unknown> } = {},
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.bytes.byteLength],
    };
    offset += t.bytes.byteLength;
  }
  Object.assign(header, overrides);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + offset);
  new DataView(out.buffer).setUint32(0, text.byteLength, true);
  out.set(text, 8);
  let at = 8 + text.byteLength;
  for (const t of Object.values(tensors)) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}
