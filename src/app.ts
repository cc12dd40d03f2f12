/**
 * Assembles a running signoff from a config and settings: store, engine, HTTP server. Used by
 * main.ts and by tests that want the whole thing in one process.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { PACKAGE_DIR } from './config/env.js';
import { openStore, type Store } from './store/store.js';
import { lockDataDir } from './store/sqlite/dir-lock.js';
import { DEFAULT_MAX_ARTIFACT_BYTES, openArtifactContents } from './artifacts/open.js';
import type { Clock, Engine } from './orchestrator/engine.js';
import { buildServer } from './http/server.js';
import { createMetrics } from './http/metrics.js';
import { registerConsole } from './bot/console/routes.js';
import type { ChatSurface } from './bot/port.js';
import type { DiscordSettings, SlackSettings } from './config/env.js';
import { Courier } from './cluster/courier.js';
import { DATABASE_CHECK_MS } from './cluster/health.js';
import { replicaId } from './cluster/replica.js';
import type { LeaseRows } from './store/postgres/lease-rows.js';

/** The lease that makes one replica the chat courier (see src/cluster/courier.ts). */
const COURIER_LEASE = 'chat-courier';
/** How long one lease statement may take: a renewal later than this is of no use (it renews every 2 s). */
const LEASE_CALL_MS = 1_500;
import { processEngine, type ProcessEngine, type WorkerSettings } from './stages/queue/process-engine.js';

export interface AppOptions {
  config: Config;
  dataDir: string;
  apiToken: string;
  /** Token of the local console's URL; the console is off when undefined or disabled in the config. */
  consoleToken?: string;
  log: Logger;
  host: string;
  port: number;
  /** Directory command stages run in (default: the working directory). */
  baseDir?: string;
  clock?: Clock;
  tickSchedule?: string | false;
  /** Where external systems reach signoff to report runs (default: the listening address). */
  publicUrl?: string;
  /** Largest artifact an external system may upload (default 100 MiB). */
  maxUploadBytes?: number;
  /** Wait before the second attempt to notify an external system (tests). */
  notifyBackoffMs?: number;
  /** Connect to Slack with these settings. */
  slack?: SlackSettings;
  /** Connect to Discord with these settings. */
  discord?: DiscordSettings;
  /**
   * Keep jobs in this PostgreSQL database (SIGNOFF_DATABASE_URL) instead of the data directory's
   * SQLite file. Artifact contents are then kept in the database too, unless `artifactsDir` is set.
   */
  databaseUrl?: string;
  /** On PostgreSQL: keep artifact contents in this shared directory (SIGNOFF_ARTIFACTS_DIR) instead. */
  artifactsDir?: string;
  /** On PostgreSQL: largest output a stage may leave (SIGNOFF_MAX_ARTIFACT_BYTES; default 100 MiB). */
  maxArtifactBytes?: number;
  /**
   * On PostgreSQL, whether this process also takes stage runs from the queue, from which pools
   * and how many at once (default: on, `default`, 32). SQLite runs every stage in-process.
   */
  worker?: WorkerSettings;
}

export interface App {
  engine: Engine;
  /** The store in use (SQLite or PostgreSQL); `sqliteOnly(app.store)` for SQLite's own database. */
  store: Store;
  server: FastifyInstance;
  /** The chat courier role: `active` on the one replica delivering chat; `poke()` wakes its drainers. */
  courier: Courier;
  /** The base URL once listening, e.g. http://127.0.0.1:3000 */
  url: string;
  /** The console's URL with its token, when the console is on. */
  consoleUrl: string | null;
  /** Stage runs this process is doing now (for /healthz's `stageRuns`). */
  stageRuns(): number;
  stop(): Promise<void>;
}

export const VERSION: string = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')).version;

export async function startApp(o: AppOptions): Promise<App> {
  const lock = await lockDataDir(o.dataDir);
  let store: Store;
  let leaseRows: LeaseRows | undefined;
  try {
    // One process per data directory, on either store (its artifacts live there). On PostgreSQL
    // several processes, each with its own directory, share one database as replicas.
    if (o.databaseUrl) {
      store = await (await import('./store/postgres/store.js')).openPgStore(o.databaseUrl, o.log);
      leaseRows = (await import('./store/postgres/lease-rows.js')).pgLeaseRows(o.databaseUrl, LEASE_CALL_MS, o.log);
    } else store = openStore(path.join(o.dataDir, 'signoff.db'));
  } catch (err) {
    lock.release();
    throw err;
  }
  const clock = o.clock ?? { now: () => Date.now() };
  const contents = openArtifactContents(store, { dataDir: o.dataDir, ...(o.artifactsDir ? { artifactsDir: o.artifactsDir } : {}), maxBytes: o.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES, now: () => clock.now() });
  let pe: ProcessEngine;
  try {
    pe = await processEngine(
      {
        store,
        contents,
        config: o.config,
        dataDir: o.dataDir,
        baseDir: o.baseDir ?? process.cwd(),
        log: o.log,
        ...(o.clock ? { clock: o.clock } : {}),
        ...(o.tickSchedule !== undefined ? { tickSchedule: o.tickSchedule } : {}),
        ...(o.notifyBackoffMs !== undefined ? { notifyBackoffMs: o.notifyBackoffMs } : {}),
        chatSurfaces: [...(o.slack ? ['slack'] : []), ...(o.discord ? ['discord'] : [])],
      },
      o.worker,
    );
  } catch (err) {
    await store.close().catch(() => undefined);
    lock.release();
    throw err;
  }
  const engine = pe.engine;
  // Each platform library is loaded only when its surface is configured: together they are
  // about half of start-up time and a third of the memory of a console-only signoff.
  const surfaces: ChatSurface[] = [];
  if (o.slack) surfaces.push(new (await import('./bot/slack/surface.js')).SlackSurface(engine, o.slack, o.log));
  if (o.discord) surfaces.push(new (await import('./bot/discord/surface.js')).DiscordSurface(engine, o.discord, o.log));
  // SQLite: this process is always the courier. PostgreSQL: whichever replica holds the lease.
  const courier = new Courier({ duties: surfaces, log: o.log, ...(leaseRows ? { lease: { rows: leaseRows, name: COURIER_LEASE, holder: replicaId() } } : {}) });
  const consoleOn = o.config.console.enabled && o.consoleToken !== undefined;
  const names = () => [...surfaces.map((s) => s.name), ...(consoleOn ? ['console'] : [])];
  // The server listens before the chat platforms are verified; /healthz says 503 until they are.
  let ready = false;
  const rawPosts = Object.assign({}, ...surfaces.map((s) => s.httpEndpoints?.() ?? {}));
  const server = await buildServer({ engine, apiToken: o.apiToken, maxUploadBytes: o.maxUploadBytes ?? 100 * 1024 * 1024, metrics: createMetrics(engine), log: o.log, version: VERSION, surfaces: names, ready: () => ready, rawPosts,
    health: {
      replica: replicaId(),
      courier: () => courier.active,
      database: () => (leaseRows ? leaseRows.ping(DATABASE_CHECK_MS) : store.ping().then(() => true)),
      stageRuns: () => pe.stageRuns(),
    },
  });
  if (consoleOn) registerConsole(server, engine, o.consoleToken!, o.clock);
  let address: string;
  try {
    address = await server.listen({ host: o.host, port: o.port });
    // Runs handed to external systems need the address to report to before any of them starts.
    engine.external.setBaseUrl(o.publicUrl ?? address.replace('[::1]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1'));
    await pe.start();
    for (const surface of surfaces) await surface.start();
    await courier.start();
    ready = true;
  } catch (err) {
    await server.close();
    await courier.stop().catch(() => undefined);
    for (const surface of surfaces) await surface.stop().catch(() => undefined);
    await pe.stop();
    await store.close();
    await leaseRows?.close();
    lock.release();
    throw err;
  }
  return {
    engine,
    store,
    server,
    courier,
    url: address.replace('[::1]', '127.0.0.1'),
    consoleUrl: consoleOn ? `${address.replace('[::1]', '127.0.0.1')}/?token=${o.consoleToken}` : null,
    stageRuns: () => pe.stageRuns(),
    async stop() {
      // The courier half first: its lease is released only once nothing more is delivered here.
      await courier.stop();
      for (const surface of surfaces) await surface.stop();
      await server.close();
      await pe.stop();
      await store.close();
      await leaseRows?.close();
      lock.release();
    },
  };
}
