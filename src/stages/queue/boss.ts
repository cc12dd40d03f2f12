/**
 * The pg-boss instance of a process (the 10.x line: 11 and later need Node 22), in its own schema
 * `pgboss` of signoff's database, with a small pool of its own for its maintenance. signoff's
 * own transactions reach it through the `db` option of `insert`, `fetch` and `deleteJob`.
 */
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { queueName } from './pools.js';

/** Starts pg-boss on `connectionString` (creating or upgrading its schema) and makes the queues of `pools`. */
export async function startBoss(connectionString: string, pools: readonly string[], log: Logger): Promise<PgBoss> {
  // No cron scheduling (signoff's timers are its own); maintenance stays on, as it archives and
  // drops old queue rows. Two connections: signoff's statements use the store's pool.
  const boss = new PgBoss({ connectionString, max: 2, schedule: false, application_name: 'signoff-pgboss' });
  boss.on('error', (err) => log.warn({ err }, 'the stage queue (pg-boss) reported an error'));
  await boss.start();
  await ensureQueues(boss, pools);
  return boss;
}

/** Makes the queue of each pool (creating an existing queue changes nothing). */
export async function ensureQueues(boss: PgBoss, pools: readonly string[]): Promise<void> {
  for (const pool of pools) {
    try {
      await boss.createQueue(queueName(pool));
    } catch {
      // Two processes creating the same queue at once: one wins, the other tries once more.
      await boss.createQueue(queueName(pool));
    }
  }
}
