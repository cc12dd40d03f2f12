/*
 * signoff console: what changed since the rejected round, on a round-2+ gate card (unified,
 * with changed words highlighted; images before and after), and the optional note an approver
 * may type next to Approve. Fetched once per card; every piece of text goes in as textContent.
 */
import { api, artifactUrl } from './api.js';
import { h } from './dom.js';
import { fmtSize } from './format.js';

const diffs = new Map(); // `${job}:${stage}:${round}` -> Promise<diff JSON | null>

function load(g) {
  const key = `${g.jobId}:${g.stage}:${g.round}`;
  if (!diffs.has(key)) {
    diffs.set(key, api(`/console/api/jobs/${g.jobId}/gates/${encodeURIComponent(g.stage)}/diff?round=${g.round}`)
      .then((r) => (r.status === 200 ? r.data : null)));
  }
  return diffs.get(key);
}

/** The diff section of a gate card (round 2 and later), filled when the diff arrives; null for round 1. */
export function renderRoundDiff(g) {
  if (!(g.round > 1)) return null;
  const box = h('section', { class: 'round-diff', 'aria-label': `Changes since round ${g.round - 1}` },
    h('p', { class: 'diff-summary muted', text: 'Loading what changed…' }));
  load(g).then((d) => box.replaceChildren(...(d ? diffParts(d) : [h('p', { class: 'diff-summary muted', text: 'No diff for this round.' })])));
  return box;
}

function diffParts(d) {
  return [
    h('p', { class: 'diff-summary' }, h('strong', { text: `Changes since round ${d.previous_round}: ` }), h('span', { text: d.summary })),
    ...d.files.filter((f) => f.status !== 'unchanged').map(fileDiff),
  ];
}

function fileDiff(f) {
  const head = h('summary', { class: 'diff-file-head' },
    h('span', { class: 'diff-file-name', text: f.name }),
    h('span', { class: 'diff-file-stat', text: f.kind === 'text' && !f.too_large ? `+${f.lines_added} −${f.lines_removed}` : f.status }));
  let body;
  if (f.kind === 'image') body = beforeAfter(f);
  else if (f.too_large) body = h('p', { class: 'diff-too-large', text: 'diff too large, see the files' });
  else if (f.kind === 'text') body = h('pre', { class: 'diff' }, f.hunks.flatMap(hunk));
  else body = h('p', { class: 'diff-binary', text: `${side(f.before)} → ${side(f.after)}` });
  return h('details', { class: `diff-file status-${f.status}`, open: true, 'data-file': f.name }, head, body);
}

const side = (s) => (s ? `${fmtSize(s.size)} · sha256 ${s.sha256.slice(0, 12)}` : 'none');

function hunk(hk) {
  return [
    h('span', { class: 'diff-line diff-hunk', text: `@@ −${hk.old_start},${hk.old_lines} +${hk.new_start},${hk.new_lines} @@` }),
    ...hk.lines.map((l) => {
      const cls = l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-ctx';
      const parts = l.words
        ? l.words.map((w) => (w.op === ' ' ? h('span', { text: w.text }) : h(w.op === '+' ? 'ins' : 'del', { text: w.text })))
        : [h('span', { text: l.text })];
      return h('span', { class: `diff-line ${cls}` }, h('span', { class: 'diff-op', 'aria-hidden': 'true', text: l.op }), ...parts);
    }),
  ];
}

function beforeAfter(f) {
  const pane = (label, s) => h('figure', { class: 'diff-image' },
    s ? h('img', { src: artifactUrl(s.artifact_id), alt: `${f.name}, ${label}`, loading: 'lazy' }) : h('p', { class: 'muted', text: 'none' }),
    h('figcaption', { text: label }));
  return h('div', { class: 'diff-images' }, pane('before', f.before), pane('after', f.after));
}

/** The optional note field shown next to Approve; its text survives re-renders of the card. */
export function noteField(card) {
  const input = h('input', { type: 'text', class: 'approve-note', name: 'note', maxlength: '1000', placeholder: 'Note (optional)', 'aria-label': 'Approval note (optional)' });
  input.value = card.noteValue ?? '';
  input.addEventListener('input', () => { card.noteValue = input.value; });
  return input;
}
