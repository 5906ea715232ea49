// Runs the compiled tests with node's test runner. Files run one at a time: integration tests
// start registries and (later) containers, and 2 cores are shared with them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...find('dist/src'), ...find('dist/test')].sort();
if (filter.length > 0) files = files.filter((f) => filter.some((x) => f.includes(x)));
// A hung test fails after 10 minutes instead of hanging the whole run (the slowest real test,
// five VMs booting under TCG on a loaded machine, takes under 3).
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=tap', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
