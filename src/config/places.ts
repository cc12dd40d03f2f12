/**
 * Where the config file and the data directory are, and why: a flag wins over the
 * environment, which wins over the current directory; the config then falls back to the
 * bundled demo. The reason is printed at start, so nobody wonders which file is in use.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A resolved path and the words that say where it came from. */
export interface Place {
  path: string;
  from: string;
}

/** The file name `signoff init` writes and `signoff` looks for in the current directory. */
export const CONFIG_FILE_NAME = 'signoff.yaml';

/** The config: `--config`, `SIGNOFF_CONFIG`, `./signoff.yaml`, else the bundled demo. */
export function configPlace(o: { flag?: string | undefined; env?: string | undefined; cwd: string; bundled: string }): Place {
  if (o.flag) return { path: path.resolve(o.cwd, o.flag), from: '--config' };
  if (o.env) return { path: path.resolve(o.cwd, o.env), from: 'SIGNOFF_CONFIG' };
  const local = path.join(o.cwd, CONFIG_FILE_NAME);
  if (fs.existsSync(local)) return { path: local, from: `./${CONFIG_FILE_NAME} in the current directory` };
  return { path: o.bundled, from: `the bundled demo; \`signoff init\` writes a ${CONFIG_FILE_NAME} of your own` };
}

/** The data directory: `--data-dir`, `SIGNOFF_DATA_DIR`, else `./data`. */
export function dataDirPlace(o: { flag?: string | undefined; env?: string | undefined; cwd: string }): Place {
  if (o.flag) return { path: path.resolve(o.cwd, o.flag), from: '--data-dir' };
  if (o.env) return { path: path.resolve(o.cwd, o.env), from: 'SIGNOFF_DATA_DIR' };
  return { path: path.join(o.cwd, 'data'), from: './data in the current directory' };
}
