/**
 * A real registry for integration tests: Debian's `docker-registry` (distribution 2.8) on a free
 * 127.0.0.1 port with its own storage dir. Optional htpasswd (Basic) auth, or token (Bearer) auth
 * with a token server run in this process — the same split Docker Hub uses (registry + auth.docker.io).
 */
import { execFile, spawn } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const REGISTRY_BIN = '/usr/bin/docker-registry';
const START_TIMEOUT_MS = 15_000;
const SERVICE = 'hull-test-registry';
const ISSUER = 'hull-test-issuer';

export interface TestRegistry {
  /** `127.0.0.1:PORT`, as it appears in image references. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  storageDir: string;
  /** Token requests the token server received (path + query), when `token` is set. */
  tokenRequests: string[];
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** Require these credentials: Basic auth via htpasswd, or, with `token`, at the token server. */
  htpasswd?: { user: string; pass: string };
  /** Bearer token auth through an in-process token server. */
  token?: boolean;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function bcrypt(password: string): Promise<string> {
  // Debian 12's libxcrypt does bcrypt; the registry's htpasswd reader accepts only bcrypt.
  const script = 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))';
  const { stdout } = await execFileP('python3', ['-W', 'ignore', '-c', script, password]);
  const hash = stdout.trim();
  if (!hash.startsWith('$2')) throw new Error(`python3 crypt did not produce a bcrypt hash: ${hash}`);
  return hash;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

interface TokenServer {
  realm: string;
  requests: string[];
  server: Server;
}

/**
 * Issue RS256 JWTs the registry verifies through the `x5c` header against `rootcertbundle`.
 * With credentials configured, anonymous callers get a token with no access (so the registry
 * answers 401 insufficient_scope, as Hub does for private repos) and wrong ones get a 401.
 */
async function startTokenServer(certPem: string, keyPem: string, creds: StartRegistryOptions['htpasswd']): Promise<TokenServer> {
  const key = createPrivateKey(keyPem);
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const requests: string[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let account = '';
    let granted = creds === undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (!creds || user !== creds.user || rest.join(':') !== creds.pass) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      account = user ?? '';
      granted = true;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const m = /^(repository):(.+):([a-z,*]+)$/.exec(scope);
      return m && granted ? [{ type: m[1], name: m[2], actions: (m[3] ?? '').split(',') }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    const claims = { iss: ISSUER, sub: account, aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key).toString('base64url');
    const token = `${signingInput}.${signature}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  };
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, requests, server };
}

async function waitUntilUp(url: string, exited: Promise<string>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let stopped: string | undefined;
  void exited.then((why) => (stopped = why));
  while (Date.now() < deadline) {
    if (stopped !== undefined) throw new Error(`docker-registry exited during startup: ${stopped}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${url} within ${START_TIMEOUT_MS} ms`);
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-registry-'));
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  let tokenServer: TokenServer | undefined;
  const config: string[] = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  try {
    if (opts.token) {
      const keyPath = join(dir, 'token.key');
      const certPath = join(dir, 'token.crt');
      await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=hull-test-token']);
      tokenServer = await startTokenServer(await readFile(certPath, 'utf8'), await readFile(keyPath, 'utf8'), opts.htpasswd);
      config.push('auth:', '  token:', `    realm: ${tokenServer.realm}`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${certPath}`);
    } else if (opts.htpasswd) {
      const htpasswdPath = join(dir, 'htpasswd');
      await writeFile(htpasswdPath, `${opts.htpasswd.user}:${await bcrypt(opts.htpasswd.pass)}\n`);
      config.push('auth:', '  htpasswd:', '    realm: basic-realm', `    path: ${htpasswdPath}`);
    }
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, `${config.join('\n')}\n`);

    const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(`exit ${code ?? signal}: ${stderr.trim()}`));
      child.once('error', (e) => resolve(e.message));
    });
    // A test that crashes or forgets stop() must not leave a registry running.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    try {
      await waitUntilUp(url, exited);
    } catch (e) {
      process.removeListener('exit', killOnExit);
      child.kill('SIGKILL');
      throw e;
    }

    const server = tokenServer?.server;
    return {
      host,
      url,
      storageDir,
      tokenRequests: tokenServer?.requests ?? [],
      async stop() {
        process.removeListener('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
        if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    tokenServer?.server.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** A registry for the length of `fn`, stopped whatever happens. */
export async function withRegistry(opts: StartRegistryOptions, fn: (reg: TestRegistry) => Promise<void>): Promise<void> {
  const reg = await startRegistry(opts);
  try {
    await fn(reg);
  } finally {
    await reg.stop();
  }
}
