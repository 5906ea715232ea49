/**
 * Set by the warm worker before it imports the CLI (ES modules evaluate their imports in
 * order), so cli/main.ts knows not to run process.argv itself.
 */
let warm = false;

export function markWarmWorker(): void {
  warm = true;
}

export function isWarmWorker(): boolean {
  return warm;
}
