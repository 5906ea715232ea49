/** Ports something on the host already listens on (TCP) or has bound (UDP), from /proc/net. */
import { readFileSync } from 'node:fs';

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Set of "tcp:8080" / "udp:53" in use on any address of the host's network namespace. */
export function listeningPorts(): Set<string> {
  const out = new Set<string>();
  for (const [proto, files, listenState] of [
    ['tcp', ['/proc/net/tcp', '/proc/net/tcp6'], '0A'],
    ['udp', ['/proc/net/udp', '/proc/net/udp6'], '07'],
  ] as const) {
    for (const f of files) {
      for (const line of read(f).split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 4 || cols[3] !== listenState) continue;
        out.add(`${proto}:${parseInt(cols[1]!.split(':')[1]!, 16)}`);
      }
    }
  }
  return out;
}
