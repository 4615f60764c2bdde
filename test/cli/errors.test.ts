/**
 * What `genloss` prints and returns when something fails, in real child processes (so that the
 * process-wide handlers TF.js's wasm backend installs are in play): one clear line, the stack only
 * with --verbose, and an exit code per kind of failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { EXIT_CODES } from '../../src/cli/process-errors.ts';

const root = new URL('../../', import.meta.url).pathname;
const fixture = join(root, 'test/fixtures/tiny-train.yaml');

function genloss(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The tiny fixture with a custom import whose timer overflows the stack mid-training. */
function overflowingConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-errors-'));
  writeFileSync(
    join(dir, 'overflow.mjs'),
    'setTimeout(() => { const f = (n) => f(n + 1) + 1; f(0); }, 20);\n',
  );
  const cfg = YAML.parse(readFileSync(fixture, 'utf8'));
  cfg.custom_imports = ['./overflow.mjs'];
  cfg.train.iters = 100000;
  const path = join(dir, 'overflow.yaml');
  writeFileSync(path, YAML.stringify(cfg));
  return path;
}

test('an error that escapes every await prints one line and exits 1, not minified wasm glue and 7', () => {
  const config = overflowingConfig();
  const dir = mkdtempSync(join(tmpdir(), 'genloss-errors-work-'));
  const { code, err } = genloss('train', config, '--work-dir', dir, '--backend', 'wasm');
  assert.equal(code, EXIT_CODES.internal, err);
  const lines = err.trim().split('\n');
  assert.match(
    lines[lines.length - 1],
    /^genloss: internal error: RangeError: Maximum call stack size exceeded \(run with --verbose for the stack\)$/,
  );
  assert.ok(err.length < 2000, `stderr is ${err.length} characters`);
  const verbose = genloss('train', config, '--work-dir', dir, '--force', '--verbose');
  assert.equal(verbose.code, EXIT_CODES.internal);
  assert.match(verbose.err, /RangeError: Maximum call stack size exceeded\n\s+at f \(/);
});

test('each kind of failure has its exit code and one message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'genloss-errors-'));
  const typo = join(dir, 'typo.yaml');
  const cfg = YAML.parse(readFileSync(fixture, 'utf8'));
  cfg.train.itres = 5;
  writeFileSync(typo, YAML.stringify(cfg));
  const config = genloss('check', typo);
  assert.equal(config.code, EXIT_CODES.config);
  assert.match(config.err, /^genloss: ConfigError: .*'train\.itres'.*Did you mean 'iters'\?/);

  const usage = genloss('train', fixture, '--iters', 'many');
  assert.equal(usage.code, EXIT_CODES.usage);
  const both = genloss('train', fixture, '--resume', '--force');
  assert.equal(both.code, EXIT_CODES.usage);
  assert.match(both.err, /--force.*cannot be used with.*--resume/);

  const help = genloss('--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /Exit codes: 0 done; 1 unexpected error/);
});

test("the README's exit codes are the CLI's", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const paragraph = /Exit codes of `genloss`:([\s\S]*?)\n\n/.exec(readme)?.[1] ?? '';
  for (const [kind, code] of Object.entries(EXIT_CODES)) {
    assert.match(paragraph, new RegExp(`(^|[ /])${code}[ /]`), `${kind} (${code})`);
  }
  assert.match(paragraph, /130\/143 stopped by SIGINT\/SIGTERM/);
});
