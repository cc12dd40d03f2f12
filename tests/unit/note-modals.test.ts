/**
 * "Approve with note…" dialogs, pure: Slack's modal and its reader (a note over the cap and a
 * dialog that lost its gate are refused next to the field), Discord's button and modal ids read
 * back strictly (anything not exactly as written is refused).
 */
import { describe, expect, it } from 'vitest';
import { noteButton, noteModal as discordNoteModal, parseNoteButtonId, parseNoteModalId } from '../../src/bot/discord/note-modal.js';
import { noteModal, readNote } from '../../src/bot/slack/note-modal.js';
import { MAX_APPROVAL_NOTE } from '../../src/orchestrator/approval-notes.js';

const meta = { job: 12, stage: 'script', round: 2, channel: 'C0JOBS', threadTs: '1.2' };
const submitted = (note: string | null, privateMetadata = JSON.stringify(meta)) => ({ private_metadata: privateMetadata, state: { values: { note: { note: { value: note } } } } });

describe('Slack: the note dialog', () => {
  it('asks for an optional note, capped, naming the gate', () => {
    const view = noteModal(meta);
    expect(view).toMatchObject({ callback_id: 'signoff_approve_note', submit: { text: 'Approve' } });
    expect(JSON.stringify(view.blocks)).toContain('Approving *script* of job 12 (round 2).');
    expect(view.blocks[1]).toMatchObject({ type: 'input', block_id: 'note', optional: true, element: { max_length: MAX_APPROVAL_NOTE } });
  });

  it('reads the note (or none), and refuses one over the cap or a dialog that lost its gate', () => {
    expect(readNote(submitted('  fine, but check the intro timing  '))).toEqual({ ok: true, note: 'fine, but check the intro timing', meta });
    expect(readNote(submitted(null))).toEqual({ ok: true, note: '', meta });
    expect(readNote(submitted('x'.repeat(MAX_APPROVAL_NOTE + 1)))).toEqual({ ok: false, errors: { note: `A note may be at most ${MAX_APPROVAL_NOTE} characters; this one has ${MAX_APPROVAL_NOTE + 1}.` } });
    for (const bad of ['', 'nope', '[]', JSON.stringify({ ...meta, job: 0 }), JSON.stringify({ ...meta, stage: '../x' }), JSON.stringify({ ...meta, round: 1.5 })]) {
      expect(readNote(submitted('ok', bad))).toMatchObject({ ok: false, errors: { note: expect.stringMatching(/no longer knows which gate/) } });
    }
  });
});

describe('Discord: the note button and modal', () => {
  it('names the gate round in ids that read back exactly, and nothing else', () => {
    const ref = { job: 12, stage: 'script', round: 2 };
    expect(noteButton(ref)).toMatchObject({ custom_id: 'sn:12:script:2', label: 'Approve with note…' });
    expect(parseNoteButtonId('sn:12:script:2')).toEqual(ref);
    expect(discordNoteModal(ref)).toMatchObject({ custom_id: 'sn:note:12:script:2', title: 'Approve script of job 12' });
    expect(parseNoteModalId('sn:note:12:script:2')).toEqual(ref);
    for (const bad of ['sn:0:script:2', 'sn:12:Script:2', 'sn:12:script:0', 'sn:12:script:2:x', 'sn:note:12:script', 'sg:a:12:script:2', 'xsn:12:script:2', '']) {
      expect(parseNoteButtonId(bad)).toBeUndefined();
      expect(parseNoteModalId(bad)).toBeUndefined();
    }
    expect(parseNoteButtonId('sn:note:12:script:2')).toBeUndefined();
  });
});
