import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atWorkerExit, runWorkerExitWork } from './worker-mode.js';

test('worker exit work: runs in the order given, once, and one failure does not stop the rest', () => {
  const ran: string[] = [];
  atWorkerExit(() => ran.push('after-reply'));
  atWorkerExit(() => {
    throw new Error('boom');
  });
  atWorkerExit(() => {
    ran.push('hand-over');
    // Work queued while the queue runs (after-reply work scheduling more) runs too.
    atWorkerExit(() => ran.push('late'));
  });
  runWorkerExitWork();
  assert.deepEqual(ran, ['after-reply', 'hand-over', 'late']);
  runWorkerExitWork();
  assert.deepEqual(ran, ['after-reply', 'hand-over', 'late'], 'the queue is emptied as it runs');
});
