/**
 * Bearer tokens: the API token is SIGNOFF_API_TOKEN when set; otherwise (and for the console's
 * token) one is generated once and kept in the data directory (mode 0600), so it stays the same
 * across restarts.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StoreError } from '../store/errors.js';

export function ensureToken(fromEnv: string | undefined, dataDir: string, name = 'api-token'): { token: string; generated: boolean; file?: string } {
  if (fromEnv) return { token: fromEnv, generated: false };
  const file = path.join(dataDir, name);
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing.length >= 16) return { token: existing, generated: false, file };
  } catch {
    // No token yet: make one below.
  }
  const token = randomBytes(24).toString('base64url');
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  } catch (cause) {
    throw new StoreError(`The data directory ${dataDir} cannot be written (${(cause as Error).message}). Make it writable or set SIGNOFF_DATA_DIR to another directory.`, 'data_dir', { cause });
  }
  return { token, generated: true, file };
}

/** Compares two secrets in constant time (hashing first makes the lengths equal). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
