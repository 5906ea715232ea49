import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atWorkerExit, runWorkerExitWork } from './worker-mode.js';

test('worker exit work: runs in the order given, once, and one failure does not stop the rest', () => {
  const ran: string[] = [];
  atWorkerExit(() => ran.push('first'));
  atWorkerExit(() => {
    throw new Error('boom');
  });
  atWorkerExit(() => {
    ran.push('hand-over');
    // Work queued while the queue runs runs too.
    atWorkerExit(() => ran.push('late'));
  });
  runWorkerExitWork();
  assert.deepEqual(ran, ['first', 'hand-over', 'late']);
  runWorkerExitWork();
  assert.deepEqual(ran, ['first', 'hand-over', 'late'], 'the queue is emptied as it runs');
});
