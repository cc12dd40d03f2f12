/*
 * signoff console: the "acting as" selector and the avatars of the person acting.
 */
import { $, avatar, h } from './dom.js';
import { state } from './state.js';
import { refreshNeedsYou } from './needs-you.js';

export function renderUsers() {
  const sel = $('#acting-as');
  sel.replaceChildren(...state.users.map((u) => h('option', { value: u.name, text: `${u.name} (${u.groups.join(', ') || 'no group'})` })));
  const saved = localStorage.getItem('signoff.actingAs');
  state.actingAs = state.users.some((u) => u.name === saved) ? saved : state.users[0]?.name ?? '';
  sel.value = state.actingAs;
  sel.addEventListener('change', () => {
    state.actingAs = sel.value;
    localStorage.setItem('signoff.actingAs', sel.value);
    renderMe();
    refreshNeedsYou();
  });
  renderMe();
}

function renderMe() {
  for (const id of ['acting-avatar', 'composer-avatar']) {
    const old = document.getElementById(id);
    const next = avatar(state.actingAs || '?', old.classList.contains('avatar-sm') ? 'avatar-sm' : '');
    next.id = id;
    old.replaceWith(next);
  }
  const user = state.users.find((u) => u.name === state.actingAs);
  $('#command').setAttribute('aria-label', `Command, sent as ${state.actingAs}`);
  $('#composer-hint').textContent = `Sending as ${state.actingAs}${user?.groups.length ? ` (${user.groups.join(', ')})` : ''} · Enter sends · ↑ recalls the previous command · answers appear only to you`;
}
