/** State → icon, label and tone, the same on every surface. */
import type { GateState, JobState } from '../../orchestrator/types.js';
import type { StageLine, Tone } from './types.js';

export const JOB_LOOK: Record<JobState, { icon: string; tone: Tone; label: string }> = {
  queued: { icon: '🕒', tone: 'muted', label: 'Queued' },
  running: { icon: '🔄', tone: 'active', label: 'Running' },
  awaiting_approval: { icon: '✋', tone: 'waiting', label: 'Awaiting approval' },
  succeeded: { icon: '✅', tone: 'good', label: 'Succeeded' },
  failed: { icon: '❌', tone: 'bad', label: 'Failed' },
  rejected: { icon: '🚫', tone: 'bad', label: 'Rejected' },
  cancelled: { icon: '⛔', tone: 'muted', label: 'Cancelled' },
};

export const STAGE_LOOK: Record<StageLine['state'], { icon: string; tone: Tone }> = {
  pending: { icon: '⚪', tone: 'muted' },
  running: { icon: '🔄', tone: 'active' },
  retry_wait: { icon: '🔁', tone: 'waiting' },
  succeeded: { icon: '✅', tone: 'good' },
  failed: { icon: '❌', tone: 'bad' },
  cancelled: { icon: '⛔', tone: 'muted' },
  awaiting_approval: { icon: '✋', tone: 'waiting' },
  held: { icon: '⏸️', tone: 'waiting' },
};

export const GATE_LOOK: Record<GateState, { icon: string; tone: Tone; label: string }> = {
  pending: { icon: '✋', tone: 'waiting', label: 'Waiting for approval' },
  held: { icon: '⏸️', tone: 'waiting', label: 'Held' },
  approved: { icon: '✅', tone: 'good', label: 'Approved' },
  rejected: { icon: '🚫', tone: 'bad', label: 'Rejected' },
  expired: { icon: '⌛', tone: 'bad', label: 'Expired' },
  cancelled: { icon: '⛔', tone: 'muted', label: 'Cancelled' },
};
