/**
 * "Approve with note…" on Slack: the button next to Approve, the dialog it opens, and the reader
 * of its submission. The note is optional, capped, and reaches later stages and the decided card.
 * Pure, like modals.ts.
 */
import type { types } from '@slack/bolt';
import { MAX_APPROVAL_NOTE } from '../../orchestrator/approval-notes.js';
import { sanitize } from '../commands/tokenize.js';
import { cut, escapeMrkdwn } from './mrkdwn.js';
import type { RejectMeta, ModalResult, SubmittedView } from './modals.js';

type ModalView = types.ModalView;
type Button = types.Button;

export const NOTE_ACTION_ID = 'signoff_gate_approve_note';
export const NOTE_CALLBACK_ID = 'signoff_approve_note';

const plain = (text: string, max = 24) => ({ type: 'plain_text' as const, text: cut(text, max).text, emoji: true });
const STAGE_RE = /^[a-z][a-z0-9_-]{0,39}$/;

/** The button, carrying the same gate value as Approve. */
export function noteButton(value: string): Button {
  return { type: 'button', action_id: NOTE_ACTION_ID, text: plain('Approve with note…', 75), value };
}

/** The dialog: one note (optional), then Approve. */
export function noteModal(meta: RejectMeta): ModalView {
  return {
    type: 'modal',
    callback_id: NOTE_CALLBACK_ID,
    title: plain('Approve'),
    submit: plain('Approve'),
    close: plain('Cancel'),
    private_metadata: JSON.stringify(meta),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', verbatim: true, text: `Approving *${escapeMrkdwn(meta.stage)}* of job ${meta.job}${meta.round > 1 ? ` (round ${meta.round})` : ''}.` } },
      {
        type: 'input',
        block_id: 'note',
        optional: true,
        label: plain('Note (shown on the card and handed to later stages)', 2000),
        element: { type: 'plain_text_input', action_id: 'note', multiline: true, max_length: MAX_APPROVAL_NOTE, placeholder: plain('Fine, but check the intro timing', 150) },
      },
    ],
  };
}

/** The note and the gate it is for; a note over the cap is refused next to the field. */
export function readNote(view: SubmittedView): ModalResult<{ note: string; meta: RejectMeta }> {
  const note = sanitize(view.state.values.note?.note?.value ?? '').trim();
  if (note.length > MAX_APPROVAL_NOTE) return { ok: false, errors: { note: `A note may be at most ${MAX_APPROVAL_NOTE} characters; this one has ${note.length}.` } };
  let m: Record<string, unknown> | undefined;
  try {
    const data: unknown = JSON.parse(view.private_metadata ?? '');
    m = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  } catch {
    m = undefined;
  }
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  if (!m || !whole(m.job) || !whole(m.round) || typeof m.stage !== 'string' || !STAGE_RE.test(m.stage) || typeof m.channel !== 'string' || (m.threadTs !== undefined && typeof m.threadTs !== 'string'))
    return { ok: false, errors: { note: 'This dialog no longer knows which gate it is for. Close it and press Approve with note… again.' } };
  return { ok: true, note, meta: { job: m.job, stage: m.stage, round: m.round, channel: m.channel, ...(typeof m.threadTs === 'string' ? { threadTs: m.threadTs } : {}) } };
}
