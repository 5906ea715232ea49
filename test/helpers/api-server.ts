/** A real `hull serve` for a test: its own state root and socket, the docker CLI pointed at it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HULL_BIN, runCollecting } from './hull.js';
import { removeHullTree } from './leftovers.js';

export const DOCKER_CLI = '/usr/local/bin/docker';

export interface ApiServer {
  root: string;
  socket: string;
  /** `unix:///…/docker.sock`, for DOCKER_HOST. */
  host: string;
  /** A DOCKER_CONFIG directory of the test's own. */
  dockerConfig: string;
  /** What the server wrote to stderr so far. */
  log(): string;
  stop(): Promise<number | null>;
}

/** `env`: extra environment for the server (e.g. HULL_DNS_UPSTREAM_FILE for tests on networks). */
export async function startApiServer(env: Record<string, string> = {}): Promise<ApiServer> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-api-'));
  const root = join(dir, 'root');
  const socket = join(dir, 'docker.sock');
  const child: ChildProcess = spawn(process.execPath, ['--', HULL_BIN, '--root', root, 'serve', '-H', `unix://${socket}`], {
    // The server's own docker config: empty, so registry credentials come only from the clients.
    env: { ...process.env, DOCKER_CONFIG: join(dir, 'server-docker-config'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`hull serve did not start: ${stderr}`)), 30_000);
    const check = (): void => {
      if (stderr.includes('API listen on')) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`hull serve exited with ${code}: ${stderr}`));
    });
  });
  return {
    root,
    socket,
    host: `unix://${socket}`,
    dockerConfig: join(dir, 'docker-config'),
    log: () => stderr,
    stop: async () => {
      // The server ends once its own work after answers is done; monitors and exit commands
      // of its containers may still be finishing: removeHullTree waits for them.
      child.kill('SIGTERM');
      const code = await exited;
      await removeHullTree(dir);
      return code;
    },
  };
}

/** The shared helper, re-exported for the API tests that import it from here. */
export { loadBusybox } from './images.js';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real docker CLI against the server. */
export function dockerCli(server: ApiServer, args: string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<DockerResult> {
  return runCollecting(DOCKER_CLI, args, {
    env: { DOCKER_HOST: server.host, DOCKER_CONFIG: server.dockerConfig, ...opts.env },
    timeoutMs: opts.timeoutMs ?? 60_000,
    input: opts.input,
  });
}

/** Run a docker command under `script`, which gives it a real terminal (for -it). */
export function dockerInPty(server: ApiServer, command: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, DOCKER_HOST: server.host, DOCKER_CONFIG: server.dockerConfig },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: '' }));
    if (opts.input !== undefined) child.stdin.write(opts.input);
    else child.stdin.end();
  });
}
