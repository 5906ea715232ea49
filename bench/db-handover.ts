/**
 * What a command's database costs at its start, with the two ways a process can leave the
 * database for the next one (docs/ARCHITECTURE.md, "Fourth pass"):
 *
 *   close     the last connection closes: checkpoint, WAL deleted (cold commands, before fast6b
 *             every command); the next process's first write creates the WAL again and SQLite
 *             syncs its header and its directory
 *   handover  state/db.ts handOverDb, then the process ends without closing (warm workers since
 *             fast6b); the next process recovers a one-frame WAL and appends to it, no sync
 *
 *   node dist/bench/db-handover.js [--runs 15]
 *
 * Each run is a fresh node process (as every command is) that opens the database as a command
 * does (openDb, after warmSqlite, as a warm worker has), makes one small write, and leaves the
 * database its way; the two ways take turns on two roots. Printed per way: the wall and CPU ms
 * of open + first write (median, max). Children run at nice -20 when allowed, so that waiting
 * for a CPU on a busy machine does not hide the I/O waits this is about.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { handOverDb, openDb, warmSqlite } from '../src/state/db.js';

const MODES = ['close', 'handover'] as const;
type Mode = (typeof MODES)[number];

function child(root: string, mode: Mode): void {
  warmSqlite();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const db = openDb(root, { existing: true });
  db.prepare("UPDATE containers SET name = name WHERE id = 'none'").run();
  const v = db.pragma('user_version', { simple: true }) as number;
  db.exec(`BEGIN IMMEDIATE; PRAGMA user_version = ${v}; COMMIT`);
  const c = process.cpuUsage(c0);
  process.stdout.write(`${(performance.now() - t0).toFixed(3)} ${((c.user + c.system) / 1000).toFixed(3)}\n`);
  if (mode === 'handover') {
    handOverDb(db);
    process.exit(0); // without Node's teardown, as a warm worker ends (its cleanup hook would close)
  }
  db.close();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function main(): void {
  const runsAt = process.argv.indexOf('--runs');
  const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 15;
  const work = mkdtempSync(join(tmpdir(), 'hull-bench-db-'));
  const self = fileURLToPath(import.meta.url);
  const niceOk = spawnSync('nice', ['-n', '-20', 'true']).status === 0;
  const results: Record<Mode, { wall: number[]; cpu: number[] }> = { close: { wall: [], cpu: [] }, handover: { wall: [], cpu: [] } };
  try {
    for (const m of MODES) openDb(join(work, m)).close(); // a migrated, empty state database per way
    for (let i = 0; i < runs + 1; i++) {
      for (const m of i % 2 ? [...MODES].reverse() : MODES) {
        const cmd = niceOk ? ['nice', ['-n', '-20', process.execPath, self, '--child', join(work, m), m]] as const : [process.execPath, [self, '--child', join(work, m), m]] as const;
        const r = spawnSync(cmd[0], cmd[1], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`child (${m}) failed: ${r.stderr}`);
        if (i === 0) continue; // the first of each way sets the state the others start from
        const [wall, cpu] = r.stdout.trim().split(' ').map(Number);
        results[m].wall.push(wall!);
        results[m].cpu.push(cpu!);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const load = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
  process.stdout.write(`open + first write of a command's database, ${runs} runs per way${niceOk ? ' (nice -20)' : ''}, load ${load}\n`);
  process.stdout.write('way        wall median  wall max  cpu median\n');
  for (const m of MODES) {
    const { wall, cpu } = results[m];
    process.stdout.write(`${m.padEnd(10)} ${median(wall).toFixed(2).padStart(11)} ${Math.max(...wall).toFixed(2).padStart(9)} ${median(cpu).toFixed(2).padStart(11)}\n`);
  }
}

if (process.argv[2] === '--child') child(process.argv[3]!, process.argv[4] as Mode);
else main();
