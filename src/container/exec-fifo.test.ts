import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startThroughFifo } from './exec-fifo.js';

function fifoIn(dir: string, id: string): string {
  mkdirSync(join(dir, id));
  const path = join(dir, id, 'exec.fifo');
  assert.equal(spawnSync('mkfifo', [path]).status, 0);
  return path;
}

test('a waiting writer (runc init) is released: it wrote "0", the fifo is removed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-fifo-'));
  try {
    const path = fifoIn(dir, 'c1');
    // Like init: blocks opening the fifo for writing, writes "0", then "execs" (here: exits 7).
    const init = spawn('sh', ['-c', `printf 0 > ${path}; exit 7`]);
    const exited = new Promise<number | null>((r) => init.on('exit', (code) => r(code)));
    assert.equal(await startThroughFifo(dir, 'c1', init.pid!), true);
    assert.equal(await exited, 7);
    assert.equal(existsSync(path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no fifo: false, nothing done (the runtime\'s own start runs)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-fifo-'));
  try {
    assert.equal(await startThroughFifo(dir, 'absent', process.pid), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an init that died without writing: an error, not a hang', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-fifo-'));
  try {
    fifoIn(dir, 'c2');
    const dead = spawnSync('true').pid;
    await assert.rejects(startThroughFifo(dir, 'c2', dead), /already dead/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a writer that says anything but "0": an error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-fifo-'));
  try {
    const path = fifoIn(dir, 'c3');
    const init = spawn('sh', ['-c', `printf 1 > ${path}`]);
    await assert.rejects(startThroughFifo(dir, 'c3', init.pid!), /not created/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
