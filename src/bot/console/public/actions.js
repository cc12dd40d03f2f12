/*
 * signoff console: the channel's buttons — gate decisions (reject asks for a reason in a dialog)
 * and the Cancel / Retry / Audit job shortcuts.
 */
import { api } from './api.js';
import { runCommand, showPrivate } from './commands.js';
import { $ } from './dom.js';
import { state } from './state.js';

export function wireChannelClicks() {
  $('#jobs').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button || button.disabled) return;
    const action = button.dataset.action;
    const card = button.closest('.gate-card');
    if (card && ['approve', 'reject', 'hold'].includes(action)) {
      if (card.classList.contains('is-busy')) return;
      const jobId = Number(card.dataset.jobId);
      const stage = card.dataset.stage;
      // The round this card shows: a click on an older card never decides a newer round.
      const round = Number(card.dataset.gate.split(':').pop());
      if (action === 'reject') openRejectDialog(jobId, stage, round, button);
      else decide(jobId, stage, round, action, undefined, card, action === 'approve' ? card.noteValue?.trim() : undefined);
      return;
    }
    const jobId = Number(button.dataset.jobId);
    if (action === 'cancel-job') {
      if (window.confirm(`Cancel job ${jobId}?`)) runCommand(`/signoff cancel ${jobId}`);
    } else if (action === 'retry-job') runCommand(`/signoff retry ${jobId}`);
    else if (action === 'audit-job') runCommand(`/signoff audit ${jobId}`);
  });
}

/** Sends a gate decision. Buttons are marked busy, not disabled, so keyboard focus stays put. */
async function decide(jobId, stage, round, action, reason, card, note) {
  const busy = (on) => {
    card?.classList.toggle('is-busy', on);
    card?.querySelectorAll('.gate-actions button').forEach((b) => b.setAttribute('aria-disabled', String(on)));
  };
  busy(true);
  const r = await api(`/console/api/jobs/${jobId}/gates/${encodeURIComponent(stage)}/${action}`, { method: 'POST', body: { as: state.actingAs, ...(Number.isInteger(round) && round > 0 ? { round } : {}), ...(reason ? { reason } : {}), ...(note ? { note } : {}) } });
  busy(false);
  if (r.data?.ok && card) card.noteValue = '';
  const data = r.data ?? {};
  showPrivate(typeof data.text === 'string' ? data.text : `signoff answered HTTP ${r.status}.`, data.ok === true, `${action} ${stage} of job ${jobId}`);
}

// ---------------------------------------------------------------- reject dialog

export function wireRejectDialog() {
  const dialog = $('#reject-dialog');
  const form = $('#reject-form');
  const reason = form.elements.reason;
  const confirm = $('[data-action="confirm-reject"]', form);
  const sync = () => { confirm.disabled = reason.value.trim() === ''; };
  reason.addEventListener('input', sync);
  reason.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !confirm.disabled) { e.preventDefault(); form.requestSubmit(); }
  });
  $('[data-action="cancel-reject"]', form).addEventListener('click', () => dialog.close('cancel'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = reason.value.trim();
    const target = state.rejecting;
    if (!text || !target) return;
    dialog.close('confirm');
    const card = document.querySelector(`.gate-card[data-job-id="${target.jobId}"][data-stage="${CSS.escape(target.stage)}"][data-state="pending"], .gate-card[data-job-id="${target.jobId}"][data-stage="${CSS.escape(target.stage)}"][data-state="held"]`);
    decide(target.jobId, target.stage, target.round, 'reject', text, card);
  });
  dialog.addEventListener('close', () => {
    const opener = state.rejecting?.opener;
    state.rejecting = null;
    (opener?.isConnected ? opener : $('#command')).focus();
  });
  state.syncReject = sync;
}

function openRejectDialog(jobId, stage, round, opener) {
  const dialog = $('#reject-dialog');
  const g = state.jobs.get(jobId)?.gates;
  const view = g && Object.values(g).filter((x) => x.stage === stage).sort((a, b) => b.round - a.round)[0];
  state.rejecting = { jobId, stage, round, opener };
  $('#reject-title').textContent = `Reject ${view?.stageName ?? stage} of job ${jobId}`;
  $('#reject-form').elements.reason.value = '';
  state.syncReject();
  dialog.showModal();
  $('#reject-form').elements.reason.focus();
}
