/**
 * `hull compare`'s outputs: the table a person reads and the SVG bar chart. The JSON form is
 * the CompareResult itself (docs/compare.schema.json).
 */
import type { CompareResult, ModeResult, Summary } from '../engine/compare.js';
import { bytesSize, humanSize } from '../util/units.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** "1.32s (1.20-1.51)": the median, then the fastest and slowest run. */
function timing(s: Summary | null): string {
  if (!s) return 'no output';
  return s.samples.length > 1 ? `${seconds(s.median)} (${seconds(s.min)}-${seconds(s.max)})` : seconds(s.median);
}

function exits(codes: readonly number[]): string {
  const distinct = [...new Set(codes)];
  return distinct.length === 1 ? String(distinct[0]) : codes.join(',');
}

const COLUMNS: [string, (m: ModeResult) => string][] = [
  ['MODE', (m) => m.mode],
  ['DISK', (m) => humanSize(m.disk.totalBytes)],
  ['FIRST OUTPUT', (m) => timing(m.firstOutputMs)],
  ['EXIT', (m) => timing(m.exitMs)],
  ['EXIT CODE', (m) => exits(m.exitCodes)],
  ['IDLE MEMORY', (m) => (m.idle.processes > 0 ? bytesSize(m.idle.pssBytes) : '-')],
  ['DENSITY', (m) => (m.density > 0 ? String(m.density) : '-')],
  ['KERNEL', (m) => m.kernel ?? '-'],
  ['ACCEL', (m) => m.accelerator],
];

/** Docker-style columns (3 spaces apart), then a line on what the numbers are. */
export function compareTable(r: CompareResult): string {
  const rows = [COLUMNS.map(([h]) => h), ...r.modes.map((m) => COLUMNS.map(([, f]) => f(m)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('   '));
  const vm = r.modes.find((m) => m.mode === 'vm');
  const notes = [
    `${r.runs} run(s) each of ${r.image}${r.command.length > 0 ? ` ${r.command.join(' ')}` : ''}; times: median (fastest-slowest) from create to first output and to exit`,
    `host kernel ${r.host.kernel}; DENSITY: idle instances that fit in MemAvailable ${bytesSize(r.host.memAvailableBytes)}`,
  ];
  if (vm) notes.push(`VM disk: image ${humanSize(vm.disk.imageBytes)} + kernel ${humanSize(vm.disk.kernelBytes)} + initramfs ${humanSize(vm.disk.initramfsBytes)}`);
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

interface Panel {
  title: string;
  value: (m: ModeResult) => number;
  label: (v: number) => string;
}

const PANELS: Panel[] = [
  { title: 'Disk (MB)', value: (m) => m.disk.totalBytes / 1e6, label: (v) => v.toFixed(1) },
  { title: 'Start to first output (s, median)', value: (m) => (m.firstOutputMs ? m.firstOutputMs.median / 1000 : 0), label: (v) => v.toFixed(2) },
  { title: 'Start to exit (s, median)', value: (m) => m.exitMs.median / 1000, label: (v) => v.toFixed(2) },
  { title: 'Idle host memory (MiB, PSS)', value: (m) => m.idle.pssBytes / 1048576, label: (v) => v.toFixed(1) },
  { title: 'Idle instances that fit in free memory', value: (m) => m.density, label: (v) => String(v) },
];

const COLORS: Record<string, string> = { container: '#2f7ed8', vm: '#e4572e' };

/** A horizontal bar chart, one panel per measure, bars scaled to the larger of the two modes. */
export function compareSvg(r: CompareResult): string {
  const width = 640;
  const labelW = 90;
  const barMax = width - labelW - 110;
  const barH = 18;
  const panelH = 28 + r.modes.length * (barH + 6);
  const top = 48;
  const height = top + PANELS.length * panelH + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(`hull compare ${r.image}: container vs VM`)}</text>`,
    `<text x="10" y="38" fill="#555555">${escapeXml(`${r.runs} run(s) each; host kernel ${r.host.kernel}`)}</text>`,
  ];
  PANELS.forEach((p, pi) => {
    const y0 = top + pi * panelH;
    parts.push(`<text x="10" y="${y0 + 16}" font-weight="bold">${escapeXml(p.title)}</text>`);
    const max = Math.max(...r.modes.map(p.value), 0);
    r.modes.forEach((m, mi) => {
      const v = p.value(m);
      const y = y0 + 24 + mi * (barH + 6);
      const w = max > 0 ? Math.max(1, (v / max) * barMax) : 1;
      parts.push(`<text x="10" y="${y + 13}">${escapeXml(m.mode)}</text>`);
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[m.mode] ?? '#888888'}"/>`);
      parts.push(`<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 13}">${escapeXml(p.label(v))}</text>`);
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * The chart for `--chart FILE`: SVG, or for *.png that SVG rendered by resvg (@resvg/resvg-js,
 * a prebuilt native renderer, offline; text in the host's fonts, e.g. Debian's fonts-dejavu-core).
 * Loaded only when a PNG is asked for.
 */
export async function compareChart(r: CompareResult, file: string): Promise<string | Buffer> {
  const svg = compareSvg(r);
  if (!file.toLowerCase().endsWith('.png')) return svg;
  const { Resvg } = await import('@resvg/resvg-js');
  // Twice the SVG's size: crisp on high-density screens, still small (tens of KiB).
  return Buffer.from(new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
}
