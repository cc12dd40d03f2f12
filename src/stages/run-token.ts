/**
 * Capability tokens of runs that wait for an external system. A token is 256 random bits; only
 * its sha256 is stored, so a copy of the database opens nothing.
 */
import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'sor_';
/** `sor_` and 43 base64url characters (32 bytes): anything else is refused before any lookup. */
const SHAPE = /^sor_[A-Za-z0-9_-]{43}$/;

/** A new token; shown once (to the external system), never stored or logged. */
export function mintRunToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

export function hashRunToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function looksLikeRunToken(text: string): boolean {
  return SHAPE.test(text);
}
