/*
 * signoff console: the browser side's entry point. Plain ES modules, no build step; the page's
 * CSP allows only the console's own scripts and app.css.
 */
import { wireChannelClicks, wireRejectDialog } from './actions.js';
import { api, connect, readToken, showFatal } from './api.js';
import { wireCommandBox, wireSubmitDialog } from './commands.js';
import { $ } from './dom.js';
import { applyUpdate } from './live.js';
import { updateCountdown } from './render-gate.js';
import { addJob, renderEmpty } from './render-job.js';
import { wireScrolling, scrollToBottom } from './scroll.js';
import { FINISHED, state } from './state.js';
import { renderTimeline } from './timeline.js';
import { renderUsers } from './users.js';
import { wireNeedsYou } from './needs-you.js';

function tick() {
  for (const el of document.querySelectorAll('.countdown[data-deadline-at]')) updateCountdown(el);
  state.ticks += 1;
  if (state.ticks % 5 === 0) for (const e of state.jobs.values()) if (e.expanded && !FINISHED.has(e.status.state)) renderTimeline(e);
}

async function boot() {
  $('#loading').hidden = true;
  state.token = readToken();
  if (!state.token) return showFatal('Open the console with the URL signoff printed at start (it ends in ?token=…).');
  try { state.history = JSON.parse(sessionStorage.getItem('signoff.history') ?? '[]'); } catch { state.history = []; }
  state.historyPos = state.history.length;
  const session = await api('/console/api/session');
  if (session.status !== 200 || !session.data) return showFatal(session.data?.message ?? session.data?.text ?? 'Could not load the console.');
  Object.assign(state, { users: session.data.users, pipelines: session.data.pipelines, help: session.data.help, offset: session.data.serverNow - Date.now() });
  renderUsers();
  wireCommandBox();
  wireChannelClicks();
  wireRejectDialog();
  wireSubmitDialog();
  const list = await api('/console/api/jobs');
  if (list.status !== 200 || !list.data) return showFatal(list.data?.message ?? 'Could not load the jobs.');
  state.offset = list.data.serverNow - Date.now();
  state.lastEventId = list.data.lastEventId;
  const threads = [...list.data.jobs].reverse(); // oldest first: newest at the bottom, like chat
  const newest = threads.at(-1)?.status.jobId;
  for (const t of threads) addJob(t, { expanded: t.status.jobId === newest || !FINISHED.has(t.status.state) });
  renderEmpty();
  wireScrolling();
  scrollToBottom();
  connect(applyUpdate);
  wireNeedsYou();
  setInterval(tick, 1000);
  let resize;
  new ResizeObserver(() => { clearTimeout(resize); resize = setTimeout(() => state.jobs.forEach((e) => renderTimeline(e)), 150); }).observe($('#channel'));
  $('#command').focus();
}

document.addEventListener('DOMContentLoaded', boot);
