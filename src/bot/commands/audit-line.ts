/** One line of a job's audit trail: when, what, who, and the details that matter. */
import type { StoredEvent } from '../../store/store.js';

const SKIP = new Set(['run', 'round', 'artifacts', 'duration_ms', 'waited_ms', 'approvers', 'params']);

export function eventLine(e: StoredEvent): string {
  const when = new Date(e.at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const details = Object.entries(e.data)
    .filter(([k, v]) => !SKIP.has(k) && v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v.length > 120 ? `${v.slice(0, 119)}…` : v) : JSON.stringify(v)}`)
    .join(' ');
  return `${when} #${e.seq} ${e.type}${details ? ` ${details}` : ''}`;
}
