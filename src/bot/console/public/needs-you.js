/*
 * signoff console: "needs you" — how many open gates wait for the person acting, as a badge in
 * the top bar (a click scrolls to the oldest), and a marker on each of those gate cards. Asked of
 * the server when the person changes and after every gate event, since the server alone knows
 * who may decide (groups, self-approval, votes, escalation).
 */
import { api } from './api.js';
import { $ } from './dom.js';
import { state } from './state.js';

let asking = null;
let again = false;

export async function refreshNeedsYou() {
  if (asking) { again = true; return asking; }
  asking = (async () => {
    const as = state.actingAs;
    const r = await api(`/console/api/pending?as=${encodeURIComponent(as)}`);
    if (as !== state.actingAs || r.status !== 200 || !Array.isArray(r.data?.items)) return;
    state.needsYou = r.data.items;
    renderNeedsYou();
  })().finally(() => {
    asking = null;
    if (again) { again = false; refreshNeedsYou(); }
  });
  return asking;
}

/** The badge and the card markers, from state.needsYou (also called after a card is re-rendered). */
export function renderNeedsYou() {
  const items = state.needsYou ?? [];
  const badge = $('#needs-you');
  badge.hidden = items.length === 0;
  badge.textContent = `${items.length} need${items.length === 1 ? 's' : ''} you`;
  badge.title = items.map((i) => `Job ${i.jobId} · ${i.stageName}`).join('\n');
  badge.dataset.count = String(items.length);
  const wanted = new Set(items.map((i) => `${i.jobId}:${i.stage}:${i.round}`));
  for (const card of document.querySelectorAll('.gate-card[data-gate]')) {
    const mine = wanted.has(card.dataset.gate);
    card.classList.toggle('needs-you', mine);
    let pill = card.querySelector('.needs-you-pill');
    if (mine && !pill) {
      pill = document.createElement('span');
      pill.className = 'pill needs-you-pill';
      pill.textContent = 'Needs you';
      card.querySelector('.gate-head')?.append(pill);
    } else if (!mine && pill) pill.remove();
  }
}

export function wireNeedsYou() {
  $('#needs-you').addEventListener('click', () => {
    const first = state.needsYou?.[0];
    if (first) document.getElementById(`job-${first.jobId}-gate-${first.stage}-${first.round}`)?.scrollIntoView({ block: 'center' });
  });
  refreshNeedsYou();
}
