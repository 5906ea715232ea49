// Imported first by worker.ts: marks this process as a warm worker before cli/main.ts evaluates.
import { markWarmWorker } from './worker-mode.js';

markWarmWorker();
