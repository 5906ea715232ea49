/**
 * Platforms (os/arch/variant) and choosing a manifest from a multi-platform index.
 * Normalisation and fallbacks follow containerd's platforms package, which Docker uses,
 * so `hull pull` picks the same manifest `docker pull` would on the same host.
 */
import { HullError } from '../util/errors.js';
import type { Descriptor, ImageIndex, Platform } from './media-types.js';

const NODE_ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  loong64: { architecture: 'loong64' },
  mips64el: { architecture: 'mips64le' },
};

const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'illumos', 'ios', 'js', 'linux', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows']);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'arm', 'arm64', 'loong64', 'mips', 'mips64', 'mips64le', 'mipsle', 'ppc64', 'ppc64le', 'riscv64', 's390x', 'wasm',
  // aliases normalizeArch understands
  'i386', 'x86_64', 'x86-64', 'aarch64', 'armhf', 'armel',
]);

const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

/** The platform images must be built for to run here. Containers are Linux, whatever Node runs on. */
export function hostPlatform(): Platform {
  const mapped = NODE_ARCH[process.arch];
  if (!mapped) return { os: 'linux', architecture: process.arch };
  const p: Platform = { os: 'linux', architecture: mapped.architecture };
  if (process.arch === 'arm') {
    // 32-bit ARM hosts differ (v6 Raspberry Pi 1 vs v7); Node records what it was built for.
    const v = (process.config.variables as Record<string, unknown>)['arm_version'];
    p.variant = typeof v === 'string' || typeof v === 'number' ? `v${v}` : 'v7';
  } else if (mapped.variant !== undefined) {
    p.variant = mapped.variant;
  }
  return p;
}

/** containerd's normalizeArch: aliases to GOARCH names, default variants made explicit or dropped. */
function normalizeArch(architecture: string, variant: string | undefined): { architecture: string; variant: string } {
  let arch = architecture.toLowerCase();
  let v = (variant ?? '').toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      v = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return { architecture: arch, variant: v };
}

function normalize(p: Platform): { os: string; architecture: string; variant: string } {
  return { os: p.os.toLowerCase(), ...normalizeArch(p.architecture, p.variant) };
}

/**
 * Parse `os[/arch[/variant]]` as `--platform` takes it. A lone component is an OS when it names one
 * (arch then defaults to the host's) and otherwise an architecture on Linux, as in containerd.
 */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split('/');
  const bad = (why: string) => new HullError('INVALID_ARGUMENT', `invalid platform "${spec}": ${why}; expected os[/arch[/variant]], e.g. linux/arm64/v8`);
  if (spec === '' || parts.length > 3) throw bad('wrong number of components');
  for (const part of parts) {
    if (!COMPONENT_RE.test(part)) throw bad(part === '' ? 'empty component' : `"${part}" contains invalid characters`);
  }
  let os: string;
  let arch: string;
  let variant: string | undefined;
  const [first, second, third] = parts.map((s) => s.toLowerCase()) as [string, string | undefined, string | undefined];
  if (second === undefined) {
    if (KNOWN_OS.has(first)) {
      os = first;
      const host = hostPlatform();
      arch = host.architecture;
      variant = host.variant;
    } else if (KNOWN_ARCH.has(first)) {
      os = 'linux';
      arch = first;
    } else {
      throw bad(`unknown operating system or architecture "${first}"`);
    }
  } else {
    os = first;
    arch = second;
    variant = third;
    if (!KNOWN_OS.has(os)) throw bad(`unknown operating system "${os}"`);
  }
  const n = normalizeArch(arch, variant);
  const p: Platform = { os, architecture: n.architecture };
  // Keep arm64's implied v8 visible so the platform prints as Docker shows it (linux/arm64/v8).
  if (n.variant !== '') p.variant = n.variant;
  else if (n.architecture === 'arm64' && variant !== undefined) p.variant = 'v8';
  return p;
}

/** `linux/arm64/v8` — the form Docker prints and accepts. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** True when an image built for `have` is the exact platform `wanted` names (after normalisation). */
export function platformMatches(wanted: Platform, have: Platform): boolean {
  const w = normalize(wanted);
  const h = normalize(have);
  return w.os === h.os && w.architecture === h.architecture && w.variant === h.variant;
}

/**
 * Platforms `wanted` can run, best first — containerd's platformVector: lower amd64 micro-architecture
 * levels, 386 on amd64, older ARM variants, and 32-bit ARM on arm64.
 */
function compatiblePlatforms(wanted: Platform): Platform[] {
  const n = normalize(wanted);
  const out: Platform[] = [{ os: n.os, architecture: n.architecture, variant: n.variant }];
  const level = (v: string) => Number.parseInt(v.replace(/^v/, ''), 10);
  switch (n.architecture) {
    case 'amd64': {
      for (let l = level(n.variant) - 1; l >= 1; l--) out.push({ os: n.os, architecture: 'amd64', variant: `v${l}` });
      out.push({ os: n.os, architecture: '386' });
      break;
    }
    case 'arm': {
      for (let l = level(n.variant) - 1; l >= 5; l--) out.push({ os: n.os, architecture: 'arm', variant: `v${l}` });
      break;
    }
    case 'arm64': {
      out.push(...compatiblePlatforms({ os: n.os, architecture: 'arm', variant: n.variant === '' ? 'v8' : n.variant }));
      break;
    }
  }
  return out;
}

/**
 * The index entry to pull for `wanted`: an exact match if there is one, else the best compatible one.
 * Entries without a platform (or attestation manifests marked unknown/unknown) never match.
 */
export function selectManifest(index: ImageIndex, wanted: Platform): Descriptor {
  for (const candidate of compatiblePlatforms(wanted)) {
    const found = index.manifests.find((d) => d.platform !== undefined && platformMatches(candidate, d.platform));
    if (found) return found;
  }
  const available = [
    ...new Set(
      index.manifests
        .filter((d) => d.platform !== undefined && d.platform.os !== 'unknown')
        .map((d) => formatPlatform(d.platform as Platform)),
    ),
  ];
  throw new HullError(
    'PLATFORM_NOT_FOUND',
    `no matching manifest for ${formatPlatform(wanted)} in the manifest list entries` +
      (available.length > 0 ? ` (available: ${available.join(', ')})` : ' (the index lists no platforms)'),
  );
}
