/**
 * A minimal QMP client: connect to QEMU's control socket, negotiate, run one command. Enough for
 * the runtime's verbs (cont to start, stop/cont for pause/resume); each verb is its own short
 * process, so there is no long-lived connection to manage.
 */
import { connect } from 'node:net';
import { HullError, messageOf } from '../util/errors.js';

/** Runs `command` on the QMP socket at `path`; resolves with its `return` value. */
export function qmp(path: string, command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path });
    let buf = '';
    let step = 0;
    const timer = setTimeout(() => done(new HullError('INTERNAL', `QMP ${command}: no answer from QEMU within ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error, value?: unknown): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.on('error', (e) => done(new HullError('INTERNAL', `QMP ${path}: ${messageOf(e)}`, { cause: e })));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        if (msg.event) continue;
        if (msg.error) return done(new HullError('INTERNAL', `QMP ${command}: ${msg.error.desc ?? 'error'}`));
        if (step === 0 && msg.QMP) {
          step = 1;
          sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
        } else if (step === 2 && 'return' in msg) {
          done(undefined, msg.return);
        }
      }
    });
  });
}
