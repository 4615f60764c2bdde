/**
 * Soak test of `genloss train` (`npm run soak`, a few minutes; not part of the test suite):
 * trains a config for `--steps` steps twice — once uninterrupted, in this process, sampling
 * `tf.memory().numTensors` and RSS every second; once as real `genloss train` child processes
 * stopped with SIGINT every `--every` steps and resumed — then checks that the two runs logged
 * the same losses and ended with the same weights and optimizer state, bit for bit, and that the
 * uninterrupted run's tensor count and resident memory stayed flat. Exits 1 otherwise.
 *
 *   npm run soak -- --config configs/demo.yaml --steps 2000 --every 500 --backend wasm
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { runTraining } from '../src/cli/train.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';

const o = new Command('soak')
  .option('--config <path>', 'training config', 'configs/demo.yaml')
  .option('--steps <n>', 'steps of each run', Number, 2000)
  .option('--every <n>', 'steps between interrupts', Number, 500)
  .option('--backend <name>', 'TF.js backend', 'wasm')
  .parse()
  .opts<{ config: string; steps: number; every: number; backend: string }>();

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Resident memory of a process, from /proc (Linux), in bytes. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** One `genloss train` part in a child; SIGINT once it logs step `stopAt` (null: run to the end). */
async function part(
  dir: string,
  resume: boolean,
  stopAt: number | null,
): Promise<{ code: number | null; stoppedAt: number; rss: number[] }> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'train', o.config, '--work-dir', dir];
  args.push('--iters', String(o.steps), '--backend', o.backend, ...(resume ? ['--resume'] : []));
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const rss: number[] = [];
  const timer = setInterval(() => {
    if (child.pid) rss.push(rssOf(child.pid));
  }, 1000);
  child.stdout?.on('data', (chunk) => {
    out += chunk;
    if (stopAt !== null && out.includes(`step ${stopAt}/`) && !child.killed) child.kill('SIGINT');
  });
  child.stderr?.on('data', (chunk) => process.stderr.write(chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  const stopped = /stopped by SIGINT at step (\d+)/.exec(out);
  return { code, stoppedAt: stopped ? Number(stopped[1]) : o.steps, rss };
}

function tensorsOf(path: string): Map<string, Buffer> {
  const file = parseSafetensors(readFileSync(path), path);
  return new Map(file.names().map((n) => [n, Buffer.from(file.read(n).values.buffer)]));
}

const straightDir = mkdtempSync(join(tmpdir(), 'genloss-soak-straight-'));
const stoppedDir = mkdtempSync(join(tmpdir(), 'genloss-soak-stopped-'));

console.log(`soak: ${o.config}, ${o.steps} steps on ${o.backend}, SIGINT every ${o.every}`);
const samples: { tensors: number; rss: number }[] = [];
const sampler = setInterval(() => {
  samples.push({ tensors: tf.memory().numTensors, rss: process.memoryUsage().rss });
}, 1000);
const t0 = performance.now();
await runTraining(o.config, {
  workDir: straightDir,
  iters: o.steps,
  backend: o.backend,
  progress: false,
});
clearInterval(sampler);
const straightSeconds = (performance.now() - t0) / 1000;

const parts: { code: number | null; stoppedAt: number; rss: number[] }[] = [];
for (let stop = o.every; ; stop += o.every) {
  const last = stop >= o.steps;
  const p = await part(stoppedDir, parts.length > 0, last ? null : stop);
  parts.push(p);
  if (last || p.code !== 130) break;
}

const same = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));
const scalarsEqual = same(join(straightDir, 'scalars.json'), join(stoppedDir, 'scalars.json'));
const a = tensorsOf(join(straightDir, 'checkpoints', 'latest.ckpt'));
const b = tensorsOf(join(stoppedDir, 'checkpoints', 'latest.ckpt'));
const differing = [...a.keys()].filter((k) => !b.get(k)?.equals(a.get(k) as Buffer));
const steady = samples.slice(Math.min(5, samples.length - 1));
const range = (xs: number[]) => `${Math.min(...xs)}–${Math.max(...xs)}`;

console.log(
  `\nuninterrupted: ${o.steps} steps in ${straightSeconds.toFixed(1)} s (${straightDir})`,
);
console.log(`  tf.memory().numTensors between steps: ${range(steady.map((s) => s.tensors))}`);
console.log(
  `  RSS: ${mib(steady[0]?.rss ?? 0)} after 5 s, ${mib(Math.max(...steady.map((s) => s.rss)))} max, ${mib(steady[steady.length - 1]?.rss ?? 0)} at the end`,
);
console.log(`interrupted (${stoppedDir}):`);
for (const [i, p] of parts.entries()) {
  console.log(
    `  part ${i + 1}: exit ${p.code}, stopped at step ${p.stoppedAt}, RSS ${mib(Math.min(...p.rss))}–${mib(Math.max(...p.rss))}`,
  );
}
console.log(`scalars.json identical: ${scalarsEqual}`);
console.log(`checkpoint tensors identical: ${differing.length === 0} (${a.size} tensors)`);
// Flat: the tensor count varies by at most the one sample grid being rendered, and the resident
// memory at the end is within a quarter of what it was once warmed up.
const counts = steady.map((s) => s.tensors);
const tensorsFlat = Math.max(...counts) - Math.min(...counts) <= 1;
const rssFlat = (steady[steady.length - 1]?.rss ?? 0) <= 1.25 * (steady[0]?.rss ?? 0);
console.log(`tensors flat: ${tensorsFlat}; RSS flat: ${rssFlat}`);
if (!scalarsEqual || differing.length > 0 || a.size !== b.size || !tensorsFlat || !rssFlat) {
  console.log(`differing tensors: ${differing.join(', ') || 'none'}`);
  process.exitCode = 1;
}
