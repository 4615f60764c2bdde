import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RunDirError } from '../../src/core/errors.ts';
import { openRunDir } from '../../src/node/run-dir.ts';

const MODULE = fileURLToPath(new URL('../../src/node/run-dir.ts', import.meta.url));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'genloss-run-dir-'));
}

/** A log callback that keeps its lines. */
function collect(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

/** Writes the files of a finished run, plus a user file, into `dir`. */
function writeRun(dir: string): void {
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  mkdirSync(join(dir, 'samples'), { recursive: true });
  writeFileSync(join(dir, 'checkpoints', 'iter_10.ckpt'), 'old iter 10');
  writeFileSync(join(dir, 'checkpoints', 'latest.ckpt'), 'old latest');
  writeFileSync(join(dir, 'samples', 'step_000010.png'), 'old grid');
  writeFileSync(join(dir, 'scalars.json'), '{"step": 10}\n');
  writeFileSync(join(dir, 'report.html'), '<html></html>');
  writeFileSync(join(dir, 'losses.svg'), '<svg/>');
  writeFileSync(join(dir, 'notes.txt'), 'my notes');
}

/** Every file and folder under `dir` with its contents and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    const stat = statSync(path);
    out[name] = stat.isDirectory()
      ? `dir ${stat.mtimeMs}`
      : `${readFileSync(path, 'utf8')} ${stat.mtimeMs}`;
  }
  return out;
}

/** A pid no process has any more: that of a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((done) => child.on('exit', done));
  return child.pid!;
}

/**
 * Starts `node --import tsx` on an ES module script that has `openRunDir` imported from the real
 * module. Resolves on the child's first stdout line.
 */
function startChild(script: string): { child: ChildProcess; line: Promise<string> } {
  const code = `import { openRunDir } from ${JSON.stringify(MODULE)};\n${script}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const end = out.indexOf('\n');
      if (end >= 0) resolve(out.slice(0, end));
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before a line: ${out}`)));
  });
  return { child, line };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.on('exit', (code) => done(code)));
}

/** A child process that opens `dir`, prints `locked`, and waits to be killed. */
async function lockHolder(dir: string): Promise<ChildProcess> {
  const { child, line } = startChild(
    `await openRunDir(${JSON.stringify(dir)}, 'new');\nconsole.log('locked');\nsetInterval(() => {}, 1000);`,
  );
  assert.equal(await line, 'locked');
  return child;
}

test('a live process holds the lock; after it is killed the lock is stale and taken over', async () => {
  const dir = tempDir();
  const child = await lockHolder(dir);
  try {
    const lock = JSON.parse(readFileSync(join(dir, '.lock'), 'utf8'));
    assert.equal(lock.pid, child.pid);
    assert.equal(lock.hostname, hostname());
    assert.ok(!Number.isNaN(Date.parse(lock.started_at)));
    await assert.rejects(openRunDir(dir, 'resume', { log: () => {} }), (err: Error) => {
      assert.ok(err instanceof RunDirError);
      assert.match(err.message, new RegExp(`pid ${child.pid}\\b`));
      assert.ok(err.message.includes(dir), err.message);
      assert.ok(err.message.includes(lock.started_at), err.message);
      return true;
    });
  } finally {
    child.kill('SIGKILL');
  }
  await exited(child);
  assert.ok(existsSync(join(dir, '.lock')), 'SIGKILL leaves the lock file behind');
  const { lines, log } = collect();
  const run = await openRunDir(dir, 'resume', { log });
  assert.equal(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid, process.pid);
  assert.ok(
    lines.some((l) => l.includes('stale') && l.includes(`pid ${child.pid}`)),
    lines.join('\n'),
  );
  run.release();
});

test('an unreadable lock is left alone while young and taken over once a few seconds old', async () => {
  const dir = tempDir();
  const lockPath = join(dir, '.lock');
  writeFileSync(lockPath, '');
  await assert.rejects(openRunDir(dir, 'new', { log: () => {} }), (err: Error) => {
    assert.ok(err instanceof RunDirError);
    assert.match(err.message, /taking its lock/);
    return true;
  });
  const minuteAgo = new Date(Date.now() - 60_000);
  utimesSync(lockPath, minuteAgo, minuteAgo);
  const { lines, log } = collect();
  const run = await openRunDir(dir, 'new', { log });
  assert.ok(
    lines.some((l) => l.includes('unreadable lock file')),
    lines.join('\n'),
  );
  run.release();
});

test('processes racing for one dir: exactly one wins (fresh dir, and a stale lock)', async () => {
  const race = async (dir: string, n: number) => {
    const script = [
      `console.log('ready');`,
      `process.stdin.once('data', async () => {`,
      `  try {`,
      `    await openRunDir(${JSON.stringify(dir)}, 'resume', { log: () => {} });`,
      `    console.log('won');`,
      `    setInterval(() => {}, 1000);`,
      `  } catch (err) {`,
      `    console.log(err.name === 'RunDirError' ? 'lost' : 'error: ' + err.message);`,
      `    process.exit(0);`,
      `  }`,
      `});`,
    ].join('\n');
    const children = Array.from({ length: n }, () => startChild(script));
    try {
      for (const c of children) assert.equal(await c.line, 'ready');
      const results = children.map(({ child }) => {
        const line = new Promise<string>((resolve) =>
          child.stdout!.once('data', (chunk) => resolve(String(chunk).trim())),
        );
        return line;
      });
      for (const { child } of children) child.stdin!.write('go\n');
      const outcome = await Promise.all(results);
      assert.equal(outcome.filter((o) => o === 'won').length, 1, outcome.join(', '));
      assert.equal(outcome.filter((o) => o === 'lost').length, n - 1, outcome.join(', '));
      const winner = children[outcome.indexOf('won')].child;
      assert.equal(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid, winner.pid);
    } finally {
      for (const { child } of children) child.kill('SIGKILL');
      await Promise.all(children.map(({ child }) => exited(child)));
    }
  };
  await race(tempDir(), 2);
  const stale = tempDir();
  writeFileSync(
    join(stale, '.lock'),
    JSON.stringify({ pid: await deadPid(), hostname: hostname(), started_at: '2020-01-01' }),
  );
  await race(stale, 3);
});

test("'new' refuses a dir that holds a run, lists the ways out, and changes nothing", async () => {
  const dir = tempDir();
  writeRun(dir);
  const before = snapshot(dir);
  await assert.rejects(openRunDir(dir, 'new', { log: () => {} }), (err: Error) => {
    assert.ok(err instanceof RunDirError);
    assert.ok(err.message.includes(dir), err.message);
    assert.match(err.message, /holds a run/);
    for (const way of ['--resume', '--force', '--work-dir']) {
      assert.ok(err.message.includes(way), `${way} missing: ${err.message}`);
    }
    return true;
  });
  assert.deepEqual(snapshot(dir), before);
  assert.ok(!existsSync(join(dir, '.lock')), 'the refusal releases the lock');
});

test("'new' takes a missing dir, an empty one, or one with only the user's files", async () => {
  const parent = tempDir();
  const missing = join(parent, 'a', 'b');
  const userOnly = tempDir();
  writeFileSync(join(userOnly, 'notes.txt'), 'my notes');
  mkdirSync(join(userOnly, 'samples'));
  for (const dir of [missing, tempDir(), userOnly]) {
    const run = await openRunDir(dir, 'new', { log: () => {} });
    assert.equal(run.path, dir);
    assert.ok(statSync(join(dir, 'checkpoints')).isDirectory());
    assert.ok(statSync(join(dir, 'samples')).isDirectory());
    run.release();
  }
  assert.equal(readFileSync(join(userOnly, 'notes.txt'), 'utf8'), 'my notes');
});

test("'force' deletes the old run's files and keeps the user's", async () => {
  const dir = tempDir();
  writeRun(dir);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'a.png'), 'user image');
  const { lines, log } = collect();
  const run = await openRunDir(dir, 'force', { log });
  assert.deepEqual(readdirSync(join(dir, 'checkpoints')), []);
  assert.deepEqual(readdirSync(join(dir, 'samples')), []);
  for (const name of ['scalars.json', 'report.html', 'losses.svg']) {
    assert.ok(!existsSync(join(dir, name)), `${name} is left`);
  }
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'my notes');
  assert.equal(readFileSync(join(dir, 'data', 'a.png'), 'utf8'), 'user image');
  assert.ok(
    lines.some((l) => l.includes('--force')),
    lines.join('\n'),
  );
  run.release();
});

test("'resume' keeps the run and removes temporary files left by a killed process", async () => {
  const dir = tempDir();
  writeRun(dir);
  writeFileSync(join(dir, 'checkpoints', 'latest.ckpt.tmp-3066'), Buffer.alloc(4_700_000));
  writeFileSync(join(dir, 'scalars.json.tmp-3066'), 'partial');
  writeFileSync(join(dir, 'notes.tmp.txt'), 'a user file');
  writeFileSync(join(dir, 'notes.tmp-2024.txt'), 'a user file whose name has .tmp-<digits>');
  const { lines, log } = collect();
  const run = await openRunDir(dir, 'resume', { log });
  assert.ok(!existsSync(join(dir, 'checkpoints', 'latest.ckpt.tmp-3066')));
  assert.ok(!existsSync(join(dir, 'scalars.json.tmp-3066')));
  assert.equal(readFileSync(join(dir, 'notes.tmp.txt'), 'utf8'), 'a user file');
  assert.ok(existsSync(join(dir, 'notes.tmp-2024.txt')), 'only names ending in .tmp-<pid> go');
  assert.equal(readFileSync(join(dir, 'checkpoints', 'latest.ckpt'), 'utf8'), 'old latest');
  assert.equal(readFileSync(join(dir, 'samples', 'step_000010.png'), 'utf8'), 'old grid');
  assert.ok(
    lines.some((l) => l.includes('latest.ckpt.tmp-3066') && l.includes('4.7 MB')),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => l.includes('scalars.json.tmp-3066')),
    lines.join('\n'),
  );
  run.release();
});

const asRoot = process.getuid?.() === 0;

test('a read-only checkpoints folder is refused at open with EACCES', {
  skip: asRoot ? 'root ignores file permissions; see the not-a-folder test' : false,
}, async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'checkpoints'));
  chmodSync(join(dir, 'checkpoints'), 0o555);
  try {
    await assert.rejects(openRunDir(dir, 'resume', { log: () => {} }), (err: Error) => {
      assert.ok(err instanceof RunDirError);
      assert.ok(err.message.includes(join(dir, 'checkpoints')), err.message);
      assert.match(err.message, /EACCES/);
      return true;
    });
    assert.ok(!existsSync(join(dir, '.lock')));
  } finally {
    chmodSync(join(dir, 'checkpoints'), 0o755);
  }
});

test('an unwritable checkpoints folder or work dir is refused at open, even for root', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'checkpoints'), 'a file where the folder should be');
  await assert.rejects(openRunDir(dir, 'resume', { log: () => {} }), (err: Error) => {
    assert.ok(err instanceof RunDirError);
    assert.ok(err.message.includes(join(dir, 'checkpoints')), err.message);
    assert.match(err.message, /not a folder \(E[A-Z]+:/);
    return true;
  });
  assert.ok(!existsSync(join(dir, '.lock')), 'the refusal releases the lock');
  const below = join(dir, 'checkpoints', 'run');
  await assert.rejects(openRunDir(below, 'new', { log: () => {} }), (err: Error) => {
    assert.ok(err instanceof RunDirError);
    assert.ok(err.message.includes(below), err.message);
    assert.match(err.message, /ENOTDIR/);
    return true;
  });
});

test('release() removes the lock, once and only if it is ours; process exit releases it', async () => {
  const dir = tempDir();
  const run = await openRunDir(dir, 'new', { log: () => {} });
  await assert.rejects(openRunDir(dir, 'resume', { log: () => {} }), RunDirError);
  run.release();
  assert.ok(!existsSync(join(dir, '.lock')));
  run.release();
  const again = await openRunDir(dir, 'resume', { log: () => {} });
  assert.ok(existsSync(join(dir, '.lock')));
  const other = JSON.stringify({ pid: 1, hostname: hostname(), started_at: 'then' });
  writeFileSync(join(dir, '.lock'), other);
  again.release();
  assert.equal(readFileSync(join(dir, '.lock'), 'utf8'), other, "another's lock is kept");

  for (const ending of ['', 'process.exit(0);']) {
    const exits = tempDir();
    const { child, line } = startChild(
      `await openRunDir(${JSON.stringify(exits)}, 'new');\nconsole.log('locked');\n${ending}`,
    );
    assert.equal(await line, 'locked');
    assert.equal(await exited(child), 0);
    assert.ok(!existsSync(join(exits, '.lock')), `lock left after exit (${ending || 'end'})`);
  }
});
