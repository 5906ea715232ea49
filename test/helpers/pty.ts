/** Drives a command on a real pty (python's pty module): the -it tests. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** The driver: forks the command on a pty of the given size, then runs the steps (JSON in argv). */
const PTY_DRIVER = String.raw`
import json, os, pty, select, struct, sys, termios, fcntl, time
cfg = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cfg['argv'][0], cfg['argv'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', cfg['rows'], cfg['cols'], 0, 0))
out = b''
def pump(until, secs):
    global out
    end = time.time() + secs
    while time.time() < end:
        if until is not None and until.encode() in out:
            return True
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return False
            if not d:
                return False
            out += d
    return until is None
status = None
for step in cfg['steps']:
    if 'expect' in step and not pump(step['expect'], 10):
        break
    if 'send' in step:
        os.write(fd, step['send'].encode())
end = time.time() + 10
while time.time() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        status = os.waitstatus_to_exitcode(st)
        break
    pump(None, 0.1)
if status is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(json.dumps({'status': status, 'out': out.decode('utf8', 'replace')}))
`;

export interface PtyStep {
  /** Wait (up to 10 s) until the output so far contains this. */
  expect?: string;
  /** Then type this. */
  send?: string;
}

export interface PtyResult {
  /** Exit status (negative: killed by that signal), null when it did not exit in time. */
  status: number | null;
  out: string;
}

/** Runs `file argv` on a fresh pty of `size`, feeding it `steps`; returns its status and everything it printed. */
export async function runOnPty([file, argv]: [string, string[]], steps: PtyStep[], size = { rows: 33, cols: 101 }): Promise<PtyResult> {
  const cfg = { argv: [file, ...argv], steps, ...size };
  const { stdout } = await execFileP('python3', ['-c', PTY_DRIVER, JSON.stringify(cfg)], { timeout: 60_000 });
  return JSON.parse(stdout) as PtyResult;
}
