import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCtl } from './proc.js';

test('the guest reports on hull.ctl: the last boot stage, started, the exit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-ctl-'));
  try {
    const path = join(dir, 'ctl.out');
    writeFileSync(path, 'stage control port open\nstage config read\n');
    assert.deepEqual(readCtl(path), { started: false, stage: 'config read' });
    writeFileSync(path, 'stage control port open\nstage ready\nstarted\nsignal 15\n');
    assert.deepEqual(readCtl(path), { started: true, stage: 'ready', exit: 143 });
    assert.deepEqual(readCtl(join(dir, 'missing')), { started: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
