/**
 * The composition root: read the command line, the environment and the config, then start (or
 * only check). `signoff --help` lists the commands; `init` lives in src/cli/init.ts.
 */
import { ConfigError, loadConfig } from './config/load.js';
import { loadDotEnv, readEnv } from './config/env.js';
import { createLogger } from './log.js';
import { ensureToken } from './http/api-token.js';
import { StoreError } from './store/store.js';
import { redactDatabaseUrl } from './store/postgres/redact.js';
import { startApp } from './app.js';
import { StartupError } from './startup-error.js';
import { USAGE, packageVersion, parseArgs } from './cli/args.js';
import { init } from './cli/init.js';
import { replicaId } from './cluster/replica.js';

async function main(argv: string[]): Promise<number> {
  // `run` (a script reporting back) and `migrate` read their own options.
  if (argv[0] === 'run') return (await import('./cli/run-client.js')).runClient(argv.slice(1), process.env);
  if (argv[0] === 'migrate') return (await import('./cli/migrate.js')).runMigrate(argv.slice(1));
  const args = parseArgs(argv);
  if (args instanceof Error) {
    process.stderr.write(`signoff: ${args.message}\n`);
    return 2;
  }
  const { command } = args;
  if (command === 'help' || command === 'version' || command === 'init') {
    const text = { help: () => USAGE, version: () => `signoff ${packageVersion()}\n`, init: () => init(args.dir ?? '.').text }[command];
    process.stdout.write(text());
    return 0;
  }
  loadDotEnv();
  const env = readEnv(process.env, { config: args.config, dataDir: args.dataDir });
  // Said before anything is read, so a wrong file is noticed even when it fails to load.
  process.stdout.write(`Config: ${env.configPath}  (from ${env.configFrom})\n`);
  if (command === 'worker' && !env.databaseUrl) {
    process.stderr.write(`signoff: ${(await import('./cli/worker.js')).WORKER_NEEDS_POSTGRES}\n`);
    return 2;
  }
  if (command === 'start' || command === 'worker') {
    process.stdout.write(`Data:   ${env.dataDir}  (from ${env.dataDirFrom})\n`);
    process.stdout.write(`Store:  ${env.databaseUrl ? `PostgreSQL, ${redactDatabaseUrl(env.databaseUrl)}  (from SIGNOFF_DATABASE_URL)` : 'SQLite, in the data directory'}\n`);
    if (env.databaseUrl) process.stdout.write(`Artifacts: ${env.artifactsDir ? `${env.artifactsDir}  (from SIGNOFF_ARTIFACTS_DIR)` : 'in PostgreSQL'}, at most ${env.maxArtifactBytes} bytes each  (SIGNOFF_MAX_ARTIFACT_BYTES)\n`);
    // On PostgreSQL other processes may share the database: say which one this is.
    if (env.databaseUrl) process.stdout.write(`Replica: ${replicaId()}  (other replicas may share this database; one of them delivers chat)\n`);
    if (env.databaseUrl) process.stdout.write(`Stages: through the PostgreSQL queue; this process ${command === 'worker' || env.worker.on ? `takes runs of pool ${env.worker.pools.join(', ')}` : 'takes none (SIGNOFF_WORKER=off)'}\n`);
  }
  const config = loadConfig(env.configPath);
  if (command === 'check-config') {
    const pipelines = Object.entries(config.pipelines).map(([n, p]) => `${n} (${p.stages.length} stages)`);
    process.stdout.write(`${env.configPath}: OK. Pipelines: ${pipelines.join(', ')}.\n`);
    return (await import('./cli/store-status.js')).printStoreStatus(env);
  }
  if (command === 'discord-register') {
    if (!env.discord) throw new Error('Set DISCORD_TOKEN and DISCORD_APPLICATION_ID (and DISCORD_GUILD_ID for one server) to register the command.');
    const { registerCommands } = await import('./bot/discord/register.js');
    process.stdout.write(`${await registerCommands(env.discord, config)}\n`);
    return 0;
  }
  const log = createLogger({ level: env.logLevel, pretty: env.logPretty });
  if (command === 'worker') {
    // Loaded only here: pg-boss and the PostgreSQL store are not part of a SQLite start.
    const worker = await (await import('./cli/worker.js')).startWorker(env, config, log, { health: process.env.SIGNOFF_PORT !== undefined });
    log.info({ pools: env.worker.pools, concurrency: env.worker.concurrency }, 'signoff worker is taking stage runs');
    process.stdout.write(`signoff worker ${replicaId()} is taking stage runs of pools ${env.worker.pools.join(', ')} (at most ${env.worker.concurrency} at once)${worker.healthUrl ? `; health: ${worker.healthUrl}` : ''}\n`);
    return untilSignal(log, () => worker.stop());
  }
  const token = ensureToken(env.apiToken, env.dataDir);
  const consoleToken = config.console.enabled ? ensureToken(undefined, env.dataDir, 'console-token').token : undefined;
  const app = await startApp({ config, dataDir: env.dataDir, worker: env.worker, apiToken: token.token, maxUploadBytes: env.maxUploadBytes, ...(env.publicUrl ? { publicUrl: env.publicUrl } : {}), ...(consoleToken ? { consoleToken } : {}), ...(env.slack ? { slack: env.slack } : {}), ...(env.discord ? { discord: env.discord } : {}), ...(env.databaseUrl ? { databaseUrl: env.databaseUrl } : {}), ...(env.artifactsDir ? { artifactsDir: env.artifactsDir } : {}), maxArtifactBytes: env.maxArtifactBytes, log, host: env.host, port: env.port });
  log.info({ url: app.url, config: env.configPath, data: env.dataDir, store: app.store.dialect }, 'signoff is running');
  // Printed, not logged: this is the one place the token is shown, for the person who started signoff.
  if (!env.apiToken) process.stdout.write(`\nAPI token (kept in ${token.file}): ${token.token}\n`);
  process.stdout.write(`signoff is listening on ${app.url}  (health: ${app.url}/healthz, API: ${app.url}/api/v1)\n`);
  if (app.consoleUrl) process.stdout.write(`Console: ${app.consoleUrl}\n`);
  process.stdout.write('\n');

  return untilSignal(log, () => app.stop());
}

/** Keeps the process running until SIGINT or SIGTERM, then stops it cleanly and exits. */
function untilSignal(log: ReturnType<typeof createLogger>, stopAll: () => Promise<void>): number {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const known = err instanceof ConfigError || err instanceof StoreError || err instanceof StartupError;
    const message = known ? (err as Error).message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`signoff: ${message}\n`);
    if (!known && err instanceof Error && err.stack && !/^The environment/.test(err.message)) process.stderr.write(`${err.stack}\n`);
    process.exit(known ? 2 : 1);
  },
);
