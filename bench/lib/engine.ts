/**
 * The engine in the bench's own process, over a real SQLite file: for figures that measure the
 * engine alone (throughput) and for preparing databases quickly (pending gates, timers).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { Engine, type Clock } from '../../src/orchestrator/engine.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';

export const silentLog = pino({ level: 'silent' });

export function benchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `signoff-bench-${prefix}-`));
}

export interface LocalEngine {
  engine: Engine;
  store: SqliteStore;
  config: Config;
  dataDir: string;
  stop(): Promise<void>;
}

export function localEngine(o: { dataDir: string; yaml: string; clock?: Clock; chatSurfaces?: string[] }): LocalEngine {
  const config = parseConfig(o.yaml, 'bench.yaml');
  const store = openStore(path.join(o.dataDir, 'signoff.db'));
  const engine = new Engine({
    store,
    config,
    dataDir: o.dataDir,
    baseDir: o.dataDir,
    log: silentLog,
    tickSchedule: false,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.chatSurfaces ? { chatSurfaces: o.chatSurfaces } : {}),
  });
  return {
    engine,
    store,
    config,
    dataDir: o.dataDir,
    async stop() {
      await engine.stop();
      store.close();
    },
  };
}

/** Resolves once `count` events of `type` were emitted (counting from now). */
export function eventsSeen(engine: Engine, type: string, count: number, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const timer = setTimeout(() => {
      off();
      reject(new Error(`only ${n} of ${count} ${type} events within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = engine.onEvent((e) => {
      if (e.type === type && ++n >= count) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}
