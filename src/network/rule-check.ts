/**
 * Whether netavark's network-level rules for a bridge are still there, checked before each
 * fast-path attach (they are gone after an iptables flush or a firewall reload, and then
 * netavark must set the network up again). The check is an `iptables -C` exec (5-10 ms of CPU,
 * next to `runc create` on the same cores), so its result is remembered with the nftables
 * ruleset generation it was seen at: every committed ruleset change, by anyone, increments the
 * generation, so while it is unchanged the rule is still there and the exec is skipped. Only
 * when `iptables` is the nf_tables flavour (its rules are nftables rules); with the legacy
 * flavour every attach runs the exec, as before.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { nativeAddon } from '../util/native.js';
import { replaceFileSync } from '../util/fs.js';

const STAMPS = process.env.HULL_RULE_STAMP_DIR || '/run/hull/bridge-rules';

let nftFlavour: boolean | undefined;

/** netavark runs the `iptables` on PATH: is it xtables-nft-multi (iptables-nft)? */
function iptablesIsNft(): boolean {
  if (nftFlavour !== undefined) return nftFlavour;
  nftFlavour = false;
  for (const dir of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, 'iptables');
    if (!existsSync(p)) continue;
    try {
      nftFlavour = basename(realpathSync(p)) === 'xtables-nft-multi';
    } catch {
      // a dangling link: no iptables there
    }
    break;
  }
  return nftFlavour;
}

function readStamp(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** `check()` (the real look), unless it already said yes at the current ruleset generation. */
export async function rulesStillThere(bridge: string, subnet: string, check: () => Promise<boolean>): Promise<boolean> {
  // Read before the check: a change committed meanwhile leaves a stamp that no longer matches.
  const gen = iptablesIsNft() ? nativeAddon().nftGeneration() : null;
  const stamp = join(STAMPS, bridge);
  const seen = gen === null ? undefined : `${gen} ${subnet}\n`;
  if (seen !== undefined && readStamp(stamp) === seen) return true;
  const ok = await check();
  if (ok && seen !== undefined) {
    try {
      mkdirSync(STAMPS, { recursive: true, mode: 0o700 });
      replaceFileSync(stamp, seen);
    } catch {
      // only an optimisation: the next attach checks again
    }
  }
  return ok;
}
