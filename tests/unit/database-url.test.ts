/**
 * SIGNOFF_DATABASE_URL as the environment reads it, and its password kept out of every message
 * and log line.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { REDACT_PATHS } from '../../src/log.js';
import { redactDatabaseUrl } from '../../src/store/postgres/redact.js';

describe('SIGNOFF_DATABASE_URL', () => {
  it('is read from the environment when it is a PostgreSQL URL, and absent otherwise (SQLite)', () => {
    expect(readEnv({ SIGNOFF_DATABASE_URL: 'postgres://ann:s3cret@db:5432/signoff' }).databaseUrl).toBe('postgres://ann:s3cret@db:5432/signoff');
    expect(readEnv({ SIGNOFF_DATABASE_URL: 'postgresql://db/signoff' }).databaseUrl).toBe('postgresql://db/signoff');
    expect(readEnv({}).databaseUrl).toBeUndefined();
    expect(readEnv({ SIGNOFF_DATABASE_URL: '' }).databaseUrl).toBeUndefined();
  });

  it('refuses another kind of URL with the expected form, without repeating the value (it may hold a password)', () => {
    let message = '';
    try {
      readEnv({ SIGNOFF_DATABASE_URL: 'mysql://ann:s3cret@db/signoff' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('SIGNOFF_DATABASE_URL is a PostgreSQL URL: postgres://user:password@host:5432/database');
    expect(message).not.toContain('s3cret');
  });

  it('is redacted however the password is written', () => {
    expect(redactDatabaseUrl('postgres://ann:s3cret@db.example:5432/signoff')).toBe('postgres://ann:***@db.example:5432/signoff');
    expect(redactDatabaseUrl('postgresql://db.example/signoff?user=ann&password=s3cret')).toBe('postgresql://db.example/signoff?user=ann&password=***');
    expect(redactDatabaseUrl('postgres://ann:p%40ss@db/signoff')).toBe('postgres://ann:***@db/signoff');
    expect(redactDatabaseUrl('postgres://ann:s3cret@[bad')).toBe('postgres://ann:***@[bad');
    expect(redactDatabaseUrl('postgres://db/signoff')).toBe('postgres://db/signoff');
  });

  it('is blotted out of a log line that carries it by mistake', () => {
    let line = '';
    const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, new Writable({ write: (c, _e, next) => ((line += c), next()) }));
    log.info({ databaseUrl: 'postgres://ann:s3cret@db/x', store: { connectionString: 'postgres://ann:s3cret@db/x' } }, 'opening');
    expect(line).toContain('"databaseUrl":"[redacted]"');
    expect(line).not.toContain('s3cret');
  });
});
