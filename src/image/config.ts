/** The image config JSON (OCI image-spec config, with Docker's extra fields). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: ContainerConfig;
  container_config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  comment?: string;
  docker_version?: string;
}

/** Parse and sanity-check a config blob: it is where diff ids (and so layer identity) come from. */
export function parseImageConfig(raw: Buffer | string): ImageConfig {
  const cfg = JSON.parse(raw.toString()) as ImageConfig;
  if (typeof cfg !== 'object' || cfg === null || !cfg.rootfs || !Array.isArray(cfg.rootfs.diff_ids)) {
    throw new Error('image config has no rootfs.diff_ids');
  }
  for (const d of cfg.rootfs.diff_ids) {
    if (!/^sha256:[a-f0-9]{64}$/.test(d)) throw new Error(`image config has an invalid diff id "${d}"`);
  }
  return cfg;
}
