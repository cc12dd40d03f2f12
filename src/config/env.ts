/**
 * The environment: the only place signoff reads `process.env`. Secrets (tokens, signing
 * secrets) come only from here, never from the config file. `.env` is read when present.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configPlace, dataDirPlace } from './places.js';

/** The package's own directory, where the bundled `conf/signoff.yaml` lives. */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const envSchema = z.object({
  SIGNOFF_CONFIG: z.string().optional(),
  SIGNOFF_DATA_DIR: z.string().optional(),
  // The message never repeats the value: it may hold a password.
  SIGNOFF_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/[^\s]+$/, { error: 'SIGNOFF_DATABASE_URL is a PostgreSQL URL: postgres://user:password@host:5432/database' }).optional(),
  SIGNOFF_HOST: z.string().default('127.0.0.1'),
  SIGNOFF_PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  SIGNOFF_API_TOKEN: z.string().min(16, 'SIGNOFF_API_TOKEN must be at least 16 characters').optional(),
  SIGNOFF_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  SIGNOFF_MAX_UPLOAD_BYTES: z.coerce.number().int().min(1).default(100 * 1024 * 1024),
  SIGNOFF_ARTIFACTS_DIR: z.string().optional(),
  SIGNOFF_MAX_ARTIFACT_BYTES: z.coerce.number({ error: 'SIGNOFF_MAX_ARTIFACT_BYTES is a number of bytes, e.g. 104857600 for 100 MiB' }).int().min(1).default(100 * 1024 * 1024),
  SIGNOFF_WORKER: z.enum(['on', 'off'], { error: 'SIGNOFF_WORKER is on or off' }).default('on'),
  SIGNOFF_POOLS: z
    .string()
    .regex(/^\s*[a-z][a-z0-9_-]{0,39}\s*(,\s*[a-z][a-z0-9_-]{0,39}\s*)*$/, 'SIGNOFF_POOLS is a comma-separated list of pool names, e.g. gpu,default')
    .default('default'),
  SIGNOFF_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  SIGNOFF_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SIGNOFF_LOG_PRETTY: z.enum(['auto', 'true', 'false']).default('auto'),
  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-/, 'SLACK_BOT_TOKEN is the bot token, starting with xoxb-').optional(),
  SLACK_APP_TOKEN: z.string().regex(/^xapp-/, 'SLACK_APP_TOKEN is the app-level token, starting with xapp-').optional(),
  SLACK_SIGNING_SECRET: z.string().min(8).optional(),
  SLACK_API_URL: z.url().optional(),
  SIGNOFF_SLACK_POSTS_PER_SECOND: z.coerce.number().positive().max(100).default(1),
  DISCORD_TOKEN: z.string().min(20, 'DISCORD_TOKEN is the bot token from the Developer Portal').optional(),
  DISCORD_APPLICATION_ID: z.string().regex(/^\d{5,25}$/, 'DISCORD_APPLICATION_ID is a numeric id').optional(),
  DISCORD_GUILD_ID: z.string().regex(/^\d{5,25}$/, 'DISCORD_GUILD_ID is a numeric id').optional(),
  DISCORD_API_URL: z.url().optional(),
  DISCORD_PUBLIC_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, "DISCORD_PUBLIC_KEY is the application's Public Key: 64 hex characters (Developer Portal, General Information)").optional(),
  DISCORD_EXPAND_ROLES: z.enum(['true', 'false'], { error: 'DISCORD_EXPAND_ROLES is true or false' }).optional(),
});

/** How signoff talks to Slack; absent when SLACK_BOT_TOKEN is not set. */
export interface SlackSettings {
  botToken: string;
  /** Socket Mode when set; else HTTP mode at POST /slack/events. */
  appToken?: string;
  signingSecret?: string;
  apiUrl?: string;
  postsPerSecond: number;
}

/** How signoff talks to Discord; absent when DISCORD_TOKEN is not set. */
export interface DiscordSettings {
  token: string;
  applicationId: string;
  /** Register commands in this guild only (instant), else globally. */
  guildId?: string;
  /** REST base URL override (the gateway URL then comes from its /gateway/bot). */
  apiUrl?: string;
  /** The application's public key (hex): interactions are also taken at POST /discord/interactions. */
  publicKey?: string;
  /**
   * Expand roles to their members for gate DMs. Needs the privileged Server Members intent
   * (asked for only when this is on), which must also be enabled in the Developer Portal.
   */
  expandRoles?: boolean;
}

export type Env = {
  configPath: string;
  /** Where configPath came from (a flag, the environment, the current directory, the bundled demo). */
  configFrom: string;
  dataDir: string;
  /** PostgreSQL instead of the data directory's SQLite file, when set (contains a password: never log it). */
  databaseUrl?: string;
  dataDirFrom: string;
  host: string;
  port: number;
  apiToken: string | undefined;
  /** Where external systems reach signoff to report runs; default: where it listens. */
  publicUrl?: string;
  /** Largest artifact an external system may upload. */
  maxUploadBytes: number;
  /** On PostgreSQL: keep artifact contents in this directory (every process mounts it) instead of the database. */
  artifactsDir?: string;
  /** On PostgreSQL: largest output a stage may leave; a larger one fails the stage. */
  maxArtifactBytes: number;
  /**
   * On PostgreSQL, whether this process takes stage runs from the queue (`SIGNOFF_WORKER`, default
   * on), from which pools (`SIGNOFF_POOLS`), and how many at once (`SIGNOFF_WORKER_CONCURRENCY`).
   */
  worker: { on: boolean; pools: string[]; concurrency: number };
  logLevel: z.infer<typeof envSchema>['SIGNOFF_LOG_LEVEL'];
  logPretty: boolean;
  slack?: SlackSettings;
  discord?: DiscordSettings;
};

/** Reads `.env` from the working directory (without overriding what is already set). */
export function loadDotEnv(file = '.env'): void {
  if (fs.existsSync(file)) process.loadEnvFile(file);
}

/** Command-line flags that override the environment. */
export interface Flags {
  config?: string | undefined;
  dataDir?: string | undefined;
}

export function readEnv(source: NodeJS.ProcessEnv = process.env, flags: Flags = {}, cwd: string = process.cwd()): Env {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`The environment is not valid:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.SLACK_BOT_TOKEN && !e.SLACK_APP_TOKEN && !e.SLACK_SIGNING_SECRET)
    throw new Error('The environment is not valid:\n  SLACK_BOT_TOKEN is set, but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode at /slack/events); set one of them.');
  if (e.DISCORD_TOKEN && !e.DISCORD_APPLICATION_ID)
    throw new Error('The environment is not valid:\n  DISCORD_TOKEN is set but DISCORD_APPLICATION_ID is not; copy it from the Developer Portal (General Information).');
  if (e.DISCORD_PUBLIC_KEY && !e.DISCORD_TOKEN)
    throw new Error('The environment is not valid:\n  DISCORD_PUBLIC_KEY is set but DISCORD_TOKEN is not; the interactions endpoint needs the bot token to post and edit messages.');
  const config = configPlace({ flag: flags.config, env: e.SIGNOFF_CONFIG, cwd, bundled: path.join(PACKAGE_DIR, 'conf', 'signoff.yaml') });
  const data = dataDirPlace({ flag: flags.dataDir, env: e.SIGNOFF_DATA_DIR, cwd });
  return {
    configPath: config.path,
    configFrom: config.from,
    dataDir: data.path,
    dataDirFrom: data.from,
    ...(e.SIGNOFF_DATABASE_URL ? { databaseUrl: e.SIGNOFF_DATABASE_URL } : {}),
    host: e.SIGNOFF_HOST,
    port: e.SIGNOFF_PORT,
    apiToken: e.SIGNOFF_API_TOKEN,
    ...(e.SIGNOFF_PUBLIC_URL ? { publicUrl: e.SIGNOFF_PUBLIC_URL } : {}),
    maxUploadBytes: e.SIGNOFF_MAX_UPLOAD_BYTES,
    ...(e.SIGNOFF_ARTIFACTS_DIR ? { artifactsDir: path.resolve(cwd, e.SIGNOFF_ARTIFACTS_DIR) } : {}),
    maxArtifactBytes: e.SIGNOFF_MAX_ARTIFACT_BYTES,
    worker: { on: e.SIGNOFF_WORKER === 'on', pools: [...new Set(e.SIGNOFF_POOLS.split(',').map((p) => p.trim()))], concurrency: e.SIGNOFF_WORKER_CONCURRENCY },
    logLevel: e.SIGNOFF_LOG_LEVEL,
    logPretty: e.SIGNOFF_LOG_PRETTY === 'auto' ? Boolean(process.stdout.isTTY) : e.SIGNOFF_LOG_PRETTY === 'true',
    ...(e.SLACK_BOT_TOKEN
      ? {
          slack: {
            botToken: e.SLACK_BOT_TOKEN,
            ...(e.SLACK_APP_TOKEN ? { appToken: e.SLACK_APP_TOKEN } : {}),
            ...(e.SLACK_SIGNING_SECRET ? { signingSecret: e.SLACK_SIGNING_SECRET } : {}),
            ...(e.SLACK_API_URL ? { apiUrl: e.SLACK_API_URL } : {}),
            postsPerSecond: e.SIGNOFF_SLACK_POSTS_PER_SECOND,
          },
        }
      : {}),
    ...(e.DISCORD_TOKEN && e.DISCORD_APPLICATION_ID
      ? {
          discord: {
            token: e.DISCORD_TOKEN,
            applicationId: e.DISCORD_APPLICATION_ID,
            ...(e.DISCORD_GUILD_ID ? { guildId: e.DISCORD_GUILD_ID } : {}),
            ...(e.DISCORD_API_URL ? { apiUrl: e.DISCORD_API_URL } : {}),
            ...(e.DISCORD_PUBLIC_KEY ? { publicKey: e.DISCORD_PUBLIC_KEY.toLowerCase() } : {}),
            ...(e.DISCORD_EXPAND_ROLES === 'true' ? { expandRoles: true } : {}),
          },
        }
      : {}),
  };
}
