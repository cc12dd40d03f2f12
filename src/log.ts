/**
 * The one pino logger, created by the composition root and passed down. Tokens and secrets are
 * redacted wherever they might appear in a logged object.
 */
import pino, { type Logger } from 'pino';
import { replicaId } from './cluster/replica.js';

export const REDACT_PATHS = [
  'token', '*.token', 'apiToken', '*.apiToken', 'secret', '*.secret', 'signingSecret', '*.signingSecret',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'req.query.access_token', 'botToken', 'appToken', '*.botToken', '*.appToken', 'password', '*.password',
  // A PostgreSQL URL carries its password; signoff logs it only redacted, and these catch a slip.
  'databaseUrl', '*.databaseUrl', 'connectionString', '*.connectionString',
];

/** The process's logger; every line names the process (`replica`, see src/cluster/replica.ts). */
export function createLogger(options: { level: string; pretty: boolean; replica?: string }): Logger {
  return pino({
    level: options.level,
    base: { replica: options.replica ?? replicaId() },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
  });
}

/** A URL with the run token of a report path (`/api/v1/runs/<token>/…`) blotted out. */
export function redactRunUrl(url: string): string {
  return url.replace(/(\/runs\/)[^/?#]+/g, '$1[redacted]');
}
