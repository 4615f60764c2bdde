import type { FileHandle } from 'node:fs/promises';

/** A PNG's IHDR: the size and pixel format, read before any image data is inflated. */
export interface PngHeader {
  format: 'png';
  width: number;
  height: number;
  /** Bits per sample: 1, 2, 4, 8 or 16, as the colour type allows. */
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colourType: number;
  /** Adam7-interlaced (seven passes) rather than plain rows. */
  interlaced: boolean;
}

/** A JPEG's frame header (SOFn): the size, read before any scan is decoded. */
export interface JpegHeader {
  format: 'jpeg';
  width: number;
  height: number;
}

/** What a PNG or JPEG file says about its size before decoding. */
export type ImageHeader = PngHeader | JpegHeader;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Samples per pixel and allowed bit depths of each PNG colour type (PNG spec, table 11.1). */
const PNG_COLOUR_TYPES: Record<number, { samples: number; depths: readonly number[] }> = {
  0: { samples: 1, depths: [1, 2, 4, 8, 16] },
  2: { samples: 3, depths: [8, 16] },
  3: { samples: 1, depths: [1, 2, 4, 8] },
  4: { samples: 2, depths: [8, 16] },
  6: { samples: 4, depths: [8, 16] },
};

/** Start column, start row, column step and row step of the seven Adam7 passes. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const chunkType = (bytes: Uint8Array, at: number) =>
  String.fromCharCode(...bytes.subarray(at, at + 4));

/**
 * Reads the PNG signature and the IHDR chunk from the first 33 bytes of `bytes`; throws an
 * `Error` saying what is wrong when they are not a valid PNG header (bad signature, IHDR missing
 * or not first, a zero or over-2³¹ size, a bit depth the colour type does not allow, an unknown
 * compression, filter or interlace method).
 */
export function parsePngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error('not a PNG (bad signature)');
  }
  if (bytes.length < 33) throw new Error(`truncated in its IHDR chunk (${bytes.length} bytes)`);
  const data = view(bytes);
  if (data.getUint32(8) !== 13 || chunkType(bytes, 12) !== 'IHDR') {
    throw new Error('its first chunk is not a 13-byte IHDR');
  }
  const width = data.getUint32(16);
  const height = data.getUint32(20);
  const [bitDepth, colourType, compression, filter, interlace] = bytes.subarray(24, 29);
  if (Math.min(width, height) === 0 || Math.max(width, height) > 0x7fffffff) {
    throw new Error(`IHDR size ${width}×${height} is outside 1…2³¹−1 per side`);
  }
  const type = PNG_COLOUR_TYPES[colourType];
  if (!type) throw new Error(`IHDR colour type ${colourType} is not 0, 2, 3, 4 or 6`);
  if (!type.depths.includes(bitDepth)) {
    throw new Error(`IHDR bit depth ${bitDepth} is not allowed for colour type ${colourType}`);
  }
  if (compression !== 0 || filter !== 0 || interlace > 1) {
    throw new Error(
      `IHDR compression ${compression}, filter ${filter}, interlace ${interlace}: unknown method`,
    );
  }
  return { format: 'png', width, height, bitDepth, colourType, interlaced: interlace === 1 };
}

/**
 * Bytes a PNG's image data must inflate to: per row (per pass when interlaced) one filter byte
 * plus the packed samples.
 */
export function pngInflatedBytes(header: PngHeader): number {
  const bits = header.bitDepth * PNG_COLOUR_TYPES[header.colourType].samples;
  const rowBytes = (width: number) => 1 + Math.ceil((width * bits) / 8);
  if (!header.interlaced) return header.height * rowBytes(header.width);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    const width = Math.ceil((header.width - x0) / dx);
    const rows = Math.ceil((header.height - y0) / dy);
    if (width > 0 && rows > 0) total += rows * rowBytes(width);
  }
  return total;
}

/**
 * The data of every IDAT chunk of a whole PNG file, in order (views into `bytes`). Throws when a
 * chunk runs past the end of the file or a second IHDR follows the first (a decoder would take
 * the size from it, unchecked).
 */
export function pngImageData(bytes: Uint8Array): Uint8Array[] {
  const data = view(bytes);
  const chunks: Uint8Array[] = [];
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = data.getUint32(at);
    const type = chunkType(bytes, at + 4);
    const end = at + 12 + length;
    if (end > bytes.length) throw new Error(`truncated in its ${type} chunk at byte ${at}`);
    if (type === 'IHDR' && at !== 8) throw new Error(`a second IHDR chunk at byte ${at}`);
    if (type === 'IDAT') chunks.push(bytes.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at = end;
  }
  return chunks;
}

/** SOFn markers: 0xC0–0xCF except DHT (0xC4), JPG (0xC8) and DAC (0xCC). */
const isFrameMarker = (m: number) =>
  m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: TEM, RST0–7, and 0x00 (a stuffed 0xFF byte). */
const isStandalone = (m: number) => m === 0x00 || m === 0x01 || (m >= 0xd0 && m <= 0xd7);

/**
 * Finds a JPEG's frame header (SOFn) by walking the marker segments of `bytes` from SOI, skipping
 * stray bytes between segments as libjpeg does; throws an `Error` saying what is wrong when there
 * is no SOI, the scan or the end comes first, `bytes` ends first, or the frame is 0 pixels wide
 * or high, or has no components.
 */
export function parseJpegHeader(bytes: Uint8Array): JpegHeader {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    throw new Error('not a JPEG (no SOI marker)');
  }
  const data = view(bytes);
  let at = 2;
  while (at < bytes.length) {
    while (at < bytes.length && bytes[at] !== 0xff) at++;
    while (at < bytes.length && bytes[at] === 0xff) at++;
    if (at >= bytes.length) break;
    const marker = bytes[at++];
    if (isStandalone(marker)) continue;
    if (marker === 0xd9 || marker === 0xda) {
      throw new Error(`no frame header (SOFn) before its ${marker === 0xda ? 'scan' : 'end'}`);
    }
    if (at + 2 > bytes.length) break;
    const length = data.getUint16(at);
    if (length < 2) throw new Error(`marker 0x${marker.toString(16)} has length ${length}`);
    if (isFrameMarker(marker)) {
      if (length < 8 || at + 8 > bytes.length) throw new Error('truncated in its frame header');
      const height = data.getUint16(at + 3);
      const width = data.getUint16(at + 5);
      if (width === 0 || height === 0 || bytes[at + 7] === 0) {
        throw new Error(
          `frame header gives ${width}×${height} pixels, ${bytes[at + 7]} components`,
        );
      }
      return { format: 'jpeg', width, height };
    }
    at += length;
  }
  throw new Error(`no frame header (SOFn) in its first ${bytes.length} bytes`);
}

/**
 * Reads at most `maxBytes` from the start of an open file (fewer when it is shorter) into a new
 * Buffer of the bytes read.
 */
export async function readPrefix(handle: FileHandle, maxBytes: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(maxBytes);
  let filled = 0;
  while (filled < maxBytes) {
    const { bytesRead } = await handle.read(buffer, filled, maxBytes - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}
