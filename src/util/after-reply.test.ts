import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterReply, backgroundScheduler, setAfterReplyScheduler, settleAfterReply, type AfterReplyWork } from './after-reply.js';

test('after-reply work: held by a host\'s scheduler, then settled; a failure is swallowed; the wait is bounded', async () => {
  const held: AfterReplyWork[] = [];
  setAfterReplyScheduler((work) => {
    held.push(work);
  });
  const done: string[] = [];
  afterReply(async () => {
    await new Promise((r) => setTimeout(r, 20));
    done.push('slow');
    // Work started by work in progress is waited for too.
    afterReply(async () => {
      await Promise.resolve();
      done.push('nested');
    });
  });
  afterReply(() => Promise.reject(new Error('boom')));
  assert.deepEqual(done, [], 'nothing runs before the host starts it');
  assert.equal(await settleAfterReply(1000), true, 'held work is not pending');
  setAfterReplyScheduler(backgroundScheduler);
  for (const work of held.splice(0)) backgroundScheduler(work);
  assert.equal(await settleAfterReply(5000), true);
  assert.deepEqual(done, ['slow', 'nested']);
  let release!: () => void;
  afterReply(() => new Promise<void>((r) => (release = r)));
  assert.equal(await settleAfterReply(50), false, 'work that does not end is given up on after the bound');
  release();
  assert.equal(await settleAfterReply(1000), true);
});
