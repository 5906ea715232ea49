/** This process's terminal as an attached container sees it: its size now and on each resize. */
import type { AttachOptions } from '../container/monitor.js';

export function terminalSizing(tty: boolean): Pick<AttachOptions, 'size' | 'onResize'> {
  if (!tty || !process.stdout.isTTY) return {};
  return {
    size: { rows: process.stdout.rows, cols: process.stdout.columns },
    onResize: (listener) => {
      const h = (): void => listener(process.stdout.rows, process.stdout.columns);
      process.stdout.on('resize', h);
      return () => process.stdout.off('resize', h);
    },
  };
}
