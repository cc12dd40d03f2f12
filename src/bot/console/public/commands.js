/*
 * signoff console: the command box, the answers only the sender sees, and the "New job" form
 * that writes a /signoff submit command.
 */
import { api } from './api.js';
import { $, h } from './dom.js';
import { fetchJob } from './live.js';
import { scrollToBottom } from './scroll.js';
import { state } from './state.js';

// ---------------------------------------------------------------- private answers

export function showPrivate(text, ok, context) {
  const box = $('#private-answers');
  const dismiss = h('button', { type: 'button', class: 'pa-dismiss', 'aria-label': 'Dismiss this answer', text: '×' });
  const el = h('div', { class: 'private-answer', 'data-ok': String(Boolean(ok)), role: ok ? 'status' : 'alert' },
    h('div', { class: 'pa-head' },
      h('span', { class: 'pa-eye', text: `Only visible to you (${state.actingAs})` }),
      context ? h('code', { class: 'pa-context', text: context }) : null,
      dismiss),
    h('div', { class: 'pa-text', text }));
  dismiss.addEventListener('click', () => {
    const next = el.nextElementSibling ?? el.previousElementSibling;
    el.remove();
    (next?.querySelector('.pa-dismiss') ?? $('#command')).focus();
  });
  box.append(el);
  while (box.children.length > 100) box.firstElementChild.remove();
  scrollToBottom();
  return el;
}

// ---------------------------------------------------------------- commands

export async function runCommand(text) {
  const send = $('#command-send');
  send.disabled = true;
  const r = await api('/console/api/command', { method: 'POST', body: { as: state.actingAs, text } });
  send.disabled = false;
  const data = r.data ?? {};
  showPrivate(typeof data.text === 'string' ? data.text : `signoff answered HTTP ${r.status}.`, data.ok === true, text);
  if (data.form === 'submit') openSubmitDialog();
  if (data.jobId && !state.jobs.has(data.jobId)) fetchJob(data.jobId);
  return data;
}

export function wireCommandBox() {
  const form = $('#command-form');
  const input = $('#command');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    remember(text);
    input.value = '';
    runCommand(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp' && state.historyPos > 0) {
      if (state.historyPos === state.history.length) state.draft = input.value;
      state.historyPos -= 1;
      input.value = state.history[state.historyPos];
    } else if (e.key === 'ArrowDown' && state.historyPos < state.history.length) {
      state.historyPos += 1;
      input.value = state.history[state.historyPos] ?? state.draft;
    } else return;
    e.preventDefault();
    requestAnimationFrame(() => input.setSelectionRange(input.value.length, input.value.length));
  });
  $('#use-example').addEventListener('click', () => { input.value = $('#example-command').textContent; input.focus(); });
  $('#help-button').addEventListener('click', () => showPrivate(state.help, true, '/signoff help'));
  $('#new-job-button').addEventListener('click', () => openSubmitDialog());
}

function remember(text) {
  if (state.history.at(-1) !== text) state.history.push(text);
  state.history = state.history.slice(-50);
  state.historyPos = state.history.length;
  state.draft = '';
  sessionStorage.setItem('signoff.history', JSON.stringify(state.history));
}

// ---------------------------------------------------------------- submit form

export function wireSubmitDialog() {
  const dialog = $('#submit-dialog');
  const form = $('#submit-form');
  const select = $('#submit-pipeline');
  select.replaceChildren(...state.pipelines.map((p) => h('option', { value: p.name, text: p.name })));
  select.addEventListener('change', renderParamFields);
  form.addEventListener('input', syncSubmit);
  $('[data-action="cancel-submit"]', form).addEventListener('click', () => dialog.close());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!form.checkValidity()) return form.reportValidity();
    const text = submitCommand();
    dialog.close();
    remember(text);
    runCommand(text);
  });
  dialog.addEventListener('close', () => $('#command').focus());
  renderParamFields();
}

function renderParamFields() {
  const p = state.pipelines.find((x) => x.name === $('#submit-pipeline').value);
  $('#submit-pipeline-desc').textContent = p?.description ?? '';
  const fields = Object.entries(p?.params ?? {}).map(([key, spec]) => {
    const id = `param-${key}`;
    const needed = spec.required && (spec.default === undefined || spec.default === null);
    return h('div', { class: 'param-field' },
      h('label', { for: id, class: 'field-label' }, h('code', { text: key }), spec.description ? h('span', { class: 'param-desc', text: ` — ${spec.description}` }) : null, needed ? h('span', { class: 'required-mark', text: ' (required)' }) : null),
      h('input', { id, type: 'text', 'data-param': key, placeholder: spec.default != null ? String(spec.default) : '', required: needed }));
  });
  $('#submit-params').replaceChildren(...fields);
  syncSubmit();
}

/** Quotes a value for the command grammar: backslashes and double quotes are escaped. */
const quote = (v) => `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function submitCommand() {
  const form = $('#submit-form');
  const params = [...form.querySelectorAll('[data-param]')].filter((i) => i.value.trim() !== '').map((i) => `${i.dataset.param}=${quote(i.value.trim())}`);
  return ['/signoff submit', form.elements.pipeline.value, ...params, quote(form.elements.brief.value.trim())].join(' ');
}

function syncSubmit() {
  const form = $('#submit-form');
  $('[data-action="submit-job"]', form).disabled = !form.elements.pipeline.value || form.elements.brief.value.trim() === '';
  $('#submit-preview').textContent = submitCommand();
}

function openSubmitDialog() {
  const dialog = $('#submit-dialog');
  if (dialog.open) return;
  syncSubmit();
  dialog.showModal();
  $('#submit-form').elements.brief.focus();
}
