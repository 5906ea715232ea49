import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { CompareResult, ModeResult } from '../engine/compare.js';
import { compareChart, compareSvg, compareTable } from './compare-render.js';

function mode(m: 'container' | 'vm', over: Partial<ModeResult> = {}): ModeResult {
  return {
    mode: m,
    disk: { totalBytes: 2_000_000, imageBytes: 2_000_000, kernelBytes: 0, initramfsBytes: 0 },
    firstOutputMs: { median: 300, min: 250, max: 520, samples: [250, 300, 520] },
    exitMs: { median: 500, min: 450, max: 700, samples: [450, 500, 700] },
    exitCodes: [0, 0, 0],
    idle: { pssBytes: 1_700_000, processes: 2 },
    kernel: '6.1.0-host',
    accelerator: 'native',
    density: 1000,
    ...over,
  };
}

const result: CompareResult = {
  image: 'a<b>&"img"',
  imageId: `sha256:${'a'.repeat(64)}`,
  command: [],
  runs: 3,
  host: { kernel: '6.1.0-host', memAvailableBytes: 1_700_000_000 },
  modes: [mode('container'), mode('vm', { firstOutputMs: null, exitCodes: [0, 1, 0], kernel: null, accelerator: 'tcg', density: 0, idle: { pssBytes: 0, processes: 0 } })],
};

test('the table: a header, one row per mode, unknowns as -, differing exit codes listed', () => {
  const lines = compareTable(result).split('\n');
  assert.match(lines[0]!, /^MODE {8}DISK {3}FIRST OUTPUT {10}EXIT {18}EXIT CODE {3}IDLE MEMORY {3}DENSITY {3}KERNEL {7}ACCEL$/);
  assert.match(lines[1]!, /^container {3}2MB {4}0\.30s \(0\.25s-0\.52s\) {3}0\.50s \(0\.45s-0\.70s\) {3}0 {11}1\.621MiB {6}1000 {6}6\.1\.0-host {3}native$/);
  // Columns line up: every value starts where its header does.
  for (const h of ['DISK', 'EXIT CODE', 'KERNEL', 'ACCEL']) {
    const at = lines[0]!.indexOf(h);
    assert.equal(lines[1]![at - 1], ' ', `${h}: a space before the column`);
    assert.notEqual(lines[1]![at], ' ', `${h}: the value starts under its header`);
  }
  assert.match(lines[2]!, /^vm .*no output .* 0,1,0 +- +- +- +tcg$/);
});

test('the SVG is well-formed, escapes names, and has a bar per mode in each panel', () => {
  const svg = compareSvg(result);
  assert.equal(XMLValidator.validate(svg), true);
  const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as { svg: { rect: { '@_width': string }[] } };
  assert.equal(doc.svg.rect.length, 11);
  assert.ok(svg.includes('a&lt;b&gt;&amp;&quot;img&quot;'));
  // The larger value of a panel gets the full width; a zero gets a 1-pixel stub.
  assert.ok(doc.svg.rect.slice(1).every((r) => Number(r['@_width']) >= 1));
});

test('a .png chart is that SVG rendered: a PNG of twice its size; any other name gets the SVG', async () => {
  const png = await compareChart(result, 'c.PNG');
  assert.ok(Buffer.isBuffer(png));
  assert.equal(png.subarray(0, 8).toString('latin1'), '\x89PNG\r\n\x1a\n');
  const svgWidth = Number(/<svg[^>]* width="(\d+)"/.exec(compareSvg(result))?.[1]);
  assert.equal(png.readUInt32BE(16), svgWidth * 2, 'IHDR width');
  assert.equal(await compareChart(result, 'c.svg'), compareSvg(result));
});
