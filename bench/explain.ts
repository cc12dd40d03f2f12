/**
 * `npx tsx bench/explain.ts [DB]`: EXPLAIN QUERY PLAN of every statement signoff's store
 * prepares (captured from the store itself, so the list never drifts from src/store/*.ts), over
 * a database file (default: a fresh one). Full scans (`SCAN`) and temporary B-trees (sorts that
 * no index serves) are flagged: those are the ones that grow with the number of jobs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database } from '../src/store/sqlite/driver.js';
import { benchDir } from './lib/engine.js';
import { tracedStore } from './lib/sql-trace.js';

export interface Plan {
  sql: string;
  plan: string[];
  flags: string[];
}

/** The statements of the store and their plans over `file` (opened read-only for the plans). */
export function explainStore(file: string): Plan[] {
  const { store, trace } = tracedStore(file, { timing: false });
  const statements = [...new Set(trace.prepared)];
  store.close();
  const db = new Database(file, { readonly: true });
  try {
    return statements.map((sql) => {
      const named = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
      const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
      const positional = (sql.match(/\?/g) ?? []).length;
      const rows = (named.length ? stmt.all(Object.fromEntries(named.map((n) => [n, null]))) : stmt.all(...Array(positional).fill(null))) as { detail: string }[];
      const plan = rows.map((r) => r.detail);
      const flags = plan.filter((p) => /^SCAN (?!CONSTANT)/.test(p) && !/USING (COVERING )?INDEX/.test(p)).map((p) => `full scan: ${p}`);
      flags.push(...plan.filter((p) => /TEMP B-TREE/.test(p)).map((p) => `sort: ${p}`));
      return { sql: sql.replace(/\s+/g, ' ').trim(), plan, flags };
    });
  } finally {
    db.close();
  }
}

export function formatPlans(plans: Plan[]): string {
  return plans
    .map((p) => `${p.flags.length ? '!!' : 'ok'} ${p.sql}\n${p.plan.map((l) => `     ${l}`).join('\n')}${p.flags.length ? `\n   → ${p.flags.join('; ')}` : ''}`)
    .join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let file = process.argv[2];
  let tmp: string | undefined;
  if (!file) {
    tmp = benchDir('explain');
    file = path.join(tmp, 'signoff.db');
  }
  process.stdout.write(`${formatPlans(explainStore(file))}\n`);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}
