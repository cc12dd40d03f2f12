/**
 * The same tests on both stores: `describe.each(STORES)` with a fresh store of each kind per
 * test, a fresh SQLite file in a temporary directory or a fresh database on the run's PostgreSQL
 * server (tests/helpers/postgres.ts). A PostgreSQL variant never skips: without a server it fails
 * saying how to get one.
 */
import path from 'node:path';
import pg from 'pg';
import { openStore, type StorePort } from '../../src/store/store.js';
import { openPgStore } from '../../src/store/postgres/store.js';
import { createPool } from '../../src/store/postgres/connect.js';
import { tempDir } from './fixtures.js';
import { freshDatabase } from './postgres.js';

export const STORES = ['sqlite', 'postgres'] as const;
export type StoreKind = (typeof STORES)[number];

/** Where a fresh store of `kind` lives: a data directory, and for PostgreSQL its database. */
export interface StorePlace {
  kind: StoreKind;
  dataDir: string;
  /** Set for PostgreSQL: what `startApp`'s `databaseUrl` and SIGNOFF_DATABASE_URL take. */
  databaseUrl?: string;
}

/** A fresh, empty place for a store of `kind`. */
export async function freshPlace(kind: StoreKind, prefix = 'signoff-'): Promise<StorePlace> {
  const dataDir = tempDir(prefix);
  return kind === 'sqlite' ? { kind, dataDir } : { kind, dataDir, databaseUrl: await freshDatabase() };
}

/** Opens (and migrates) the store at `place`. */
export async function openAt(place: StorePlace): Promise<StorePort> {
  return place.databaseUrl ? openPgStore(place.databaseUrl) : openStore(path.join(place.dataDir, 'signoff.db'));
}

/** The options `startApp` takes for `place` (the data directory, and the database when PostgreSQL). */
export function appPlace(place: StorePlace): { dataDir: string; databaseUrl?: string } {
  return place.databaseUrl ? { dataDir: place.dataDir, databaseUrl: place.databaseUrl } : { dataDir: place.dataDir };
}

/** The environment a `signoff start` child process takes for `place`. */
export function envFor(place: StorePlace): Record<string, string> {
  return place.databaseUrl ? { SIGNOFF_DATABASE_URL: place.databaseUrl } : {};
}

/** A second, plain connection pool to a PostgreSQL place, for a test that plays another client. */
export function otherPool(place: StorePlace): pg.Pool {
  if (!place.databaseUrl) throw new Error('otherPool: this place is SQLite');
  return createPool(place.databaseUrl);
}

/** `{ databaseUrl }` of a fresh PostgreSQL database for `kind` postgres, `{}` for SQLite: spread into a harness's options. */
export async function databaseOption(kind: StoreKind): Promise<{ databaseUrl?: string }> {
  return kind === 'postgres' ? { databaseUrl: await freshDatabase() } : {};
}

/** The environment that runs a `signoff start` child on a fresh store of `kind` (its data directory aside). */
export async function storeEnv(kind: StoreKind): Promise<Record<string, string>> {
  return kind === 'postgres' ? { SIGNOFF_DATABASE_URL: await freshDatabase() } : {};
}
