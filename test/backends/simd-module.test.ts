/**
 * src/backends/simd/module.ts is generated from source.ts by scripts/build-simd.ts and committed:
 * it must name its generator, carry the hash of the current source text, hold binaries that
 * export exactly the kernels the text declares, and (where wabt's `wat2wasm` is installed) be
 * byte for byte what the generator writes now. A failure here means: run `npm run build:simd`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  buildSimdModule,
  MODULE_HEADER,
  MODULE_PATH,
  simdSourceSha256,
} from '../../scripts/build-simd.ts';
import {
  SIMD_GAN_MODULE_BASE64,
  SIMD_LOSS_MODULE_BASE64,
  SIMD_SOBEL_MODULE_BASE64,
  SIMD_SOURCE_SHA256,
} from '../../src/backends/simd/module.ts';
import { SIMD_PARTS, simdModuleText } from '../../src/backends/simd/source.ts';

const committed = readFileSync(MODULE_PATH, 'utf8');
const BINARIES = {
  loss: SIMD_LOSS_MODULE_BASE64,
  sobel: SIMD_SOBEL_MODULE_BASE64,
  gan: SIMD_GAN_MODULE_BASE64,
};

test('module.ts names its generator and its source on the first line', () => {
  assert.equal(committed.split('\n')[0], MODULE_HEADER);
  assert.match(MODULE_HEADER, /scripts\/build-simd\.ts from src\/backends\/simd\/source\.ts/);
});

test('module.ts was built from the current source text (SHA-256)', () => {
  assert.equal(SIMD_SOURCE_SHA256, simdSourceSha256(), 'source.ts changed: npm run build:simd');
});

test('each binary exports exactly the functions its source text exports', () => {
  for (const part of SIMD_PARTS) {
    const declared = [...simdModuleText(part).matchAll(/\(export "(\w+)"/g)].map((m) => m[1]);
    const module = new WebAssembly.Module(Buffer.from(BINARIES[part], 'base64'));
    const exported = WebAssembly.Module.exports(module).map((e) => e.name);
    assert.deepEqual(exported, declared, part);
  }
});

const wat2wasm = spawnSync('wat2wasm', ['--version']).status === 0;

test('module.ts is what scripts/build-simd.ts writes now', {
  skip: wat2wasm ? false : "wabt's wat2wasm is not installed",
}, () => {
  assert.equal(buildSimdModule(), committed);
});
