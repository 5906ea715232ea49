/**
 * Registry credentials in Docker's own `config.json`, so `docker login` and `hull login` share them.
 * The file is `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`):
 *   {"auths": {"127.0.0.1:5000": {"auth": base64("user:pass")}}, "credHelpers": {...}, "credsStore": "..."}
 * Docker Hub's key is the legacy `https://index.docker.io/v1/`. Keys we do not own are preserved.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { HullError, messageOf } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';

export interface Credentials {
  username: string;
  password: string;
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const HELPER_TIMEOUT_MS = 30_000;

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  [key: string]: unknown;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

export function dockerConfigPath(): string {
  const dir = process.env['DOCKER_CONFIG'] || join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The key Docker files a registry under: its host, except Docker Hub's historical URL. */
export function credentialKey(domain: string): string {
  return DOCKER_HUB_HOSTS.has(domain) ? DOCKER_HUB_KEY : domain;
}

/** Docker's ConvertToHostname: keys may be written as URLs (`https://host/v1/`) by older clients. */
function keyHost(key: string): string {
  const host = key.replace(/^https?:\/\//, '').split('/')[0] ?? '';
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

function sameRegistry(key: string, domain: string): boolean {
  return keyHost(key) === keyHost(domain);
}

async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new HullError('INTERNAL', `cannot read ${path}: ${messageOf(e)}`, { cause: e });
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // Refuse rather than overwrite: the file may hold credentials for other tools.
    throw new HullError('INVALID_ARGUMENT', `${path} is not valid JSON: ${messageOf(e)}`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HullError('INVALID_ARGUMENT', `${path} must contain a JSON object`);
  }
  return parsed as ConfigFile;
}

async function writeConfig(path: string, config: ConfigFile): Promise<void> {
  // Keep a symlinked config.json (dotfile managers) a symlink: replace its target, not the link.
  const target = await realpath(path).catch(() => path);
  await writeFileAtomic(target, `${JSON.stringify(config, null, '\t')}\n`, 0o600);
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** The credential helper Docker would use for this registry, if any (per-host helper beats the global store). */
function helperFor(config: ConfigFile, domain: string): string | undefined {
  for (const [key, name] of Object.entries(config.credHelpers ?? {})) {
    if (sameRegistry(key, domain) && name) return name;
  }
  return config.credsStore || undefined;
}

/** Run `docker-credential-<name> <action>` with the docker-credential-helpers stdin protocol. */
function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${name}`, [action], { timeout: HELPER_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) {
        // Helpers print "credentials not found in native keychain" on stdout and exit 1.
        const detail = (stdout || stderr || '').trim() || messageOf(err);
        reject(new HullError('INTERNAL', `credential helper docker-credential-${name} ${action} failed: ${detail}`, { cause: err }));
      } else {
        resolve(stdout);
      }
    });
    child.stdin?.end(input);
  });
}

async function helperGet(name: string, domain: string): Promise<Credentials | undefined> {
  let out: string;
  try {
    out = await runHelper(name, 'get', credentialKey(domain));
  } catch (e) {
    if (e instanceof HullError && /credentials not found/i.test(e.message)) return undefined;
    throw e;
  }
  const parsed = JSON.parse(out) as { Username?: string; Secret?: string };
  if (!parsed.Username || parsed.Secret === undefined) return undefined;
  return { username: parsed.Username, password: parsed.Secret };
}

/**
 * Credentials a client sent with its request: one pair (the Engine API's X-Registry-Auth), or
 * one per registry (X-Registry-Config of POST /build, keyed like config.json's `auths`). They
 * win over the config file for the registry work done on that request's behalf, and only for it.
 */
export type RequestCredentials = Credentials | { byRegistry: Record<string, Credentials> };

const requestCredentials = new AsyncLocalStorage<RequestCredentials>();

export function withRequestCredentials<T>(creds: RequestCredentials, fn: () => Promise<T>): Promise<T> {
  return requestCredentials.run(creds, fn);
}

function givenFor(given: RequestCredentials | undefined, domain: string): Credentials | undefined {
  if (!given || !('byRegistry' in given)) return given;
  const exact = given.byRegistry[credentialKey(domain)];
  if (exact) return exact;
  for (const [key, creds] of Object.entries(given.byRegistry)) if (sameRegistry(key, domain)) return creds;
  return undefined;
}

/** Credentials for `domain` (e.g. `docker.io`, `127.0.0.1:5000`), or undefined when not logged in. */
export async function getCredentials(domain: string): Promise<Credentials | undefined> {
  const given = givenFor(requestCredentials.getStore(), domain);
  if (given) return given;
  const config = await readConfig(dockerConfigPath());
  const helper = helperFor(config, domain);
  if (helper) {
    const fromHelper = await helperGet(helper, domain);
    if (fromHelper) return fromHelper;
  }
  const auths = config.auths ?? {};
  const exact = auths[credentialKey(domain)];
  if (exact) return decodeEntry(exact);
  for (const [key, entry] of Object.entries(auths)) {
    if (sameRegistry(key, domain)) return decodeEntry(entry);
  }
  return undefined;
}

/** Store credentials as `docker login` does: in the configured helper, else base64 in `auths`. */
export async function saveCredentials(domain: string, username: string, password: string): Promise<void> {
  const path = dockerConfigPath();
  const config = await readConfig(path);
  const key = credentialKey(domain);
  const helper = helperFor(config, domain);
  const auths: Record<string, AuthEntry> = {};
  // Drop alias spellings of the same registry so a stale entry cannot shadow the new one.
  for (const [k, entry] of Object.entries(config.auths ?? {})) if (!sameRegistry(k, domain)) auths[k] = entry;
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }));
    auths[key] = {}; // Docker lists helper-stored logins with an empty entry.
  } else {
    auths[key] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
  }
  config.auths = auths;
  await writeConfig(path, config);
}

/** Forget credentials for `domain`. Returns false when there were none in the file. */
export async function removeCredentials(domain: string): Promise<boolean> {
  const path = dockerConfigPath();
  const config = await readConfig(path);
  const helper = helperFor(config, domain);
  if (helper) {
    await runHelper(helper, 'erase', credentialKey(domain)).catch((e: unknown) => {
      if (!(e instanceof HullError && /credentials not found/i.test(e.message))) throw e;
    });
  }
  const auths = config.auths ?? {};
  const keys = Object.keys(auths).filter((k) => sameRegistry(k, domain));
  if (keys.length === 0) return false;
  for (const k of keys) delete auths[k];
  config.auths = auths;
  await writeConfig(path, config);
  return true;
}
