/*
 * signoff console: building DOM and SVG. Every piece of server text is inserted with textContent
 * (or as SVG text); the page's CSP allows only the console's own scripts and app.css.
 */
import { fmtFull, fmtTime } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
export const $ = (sel, root = document) => root.querySelector(sel);

const present = (list) => list.flat().filter((c) => c !== null && c !== undefined && c !== false);

/** Builds an element: attrs `class`, `text` (as textContent), `on<event>`, others as attributes. */
function make(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...present(children));
  return el;
}

export const h = (tag, attrs = {}, ...children) => make(document.createElement(tag), attrs, children);
export const svg = (tag, attrs = {}, ...children) => make(document.createElementNS(SVG_NS, tag), attrs, children);
/** Replaces an element's children, skipping null/false ones. */
export const fill = (el, ...children) => el.replaceChildren(...present(children));

export const timeEl = (at, cls = 'msg-time') => h('time', { class: cls, datetime: new Date(at).toISOString(), title: fmtFull(at), text: fmtTime(at) });

/** Re-renders `root` without losing keyboard focus: the same action button (or root) gets it back. */
export function keepFocus(root, render) {
  const active = document.activeElement;
  const action = active && active !== root && root.contains(active) ? active.dataset.action ?? '' : null;
  render();
  if (action !== null) (root.querySelector(`[data-action="${CSS.escape(action)}"]`) ?? root).focus({ preventScroll: true });
}

function initials(name) {
  const parts = String(name).split(/[\s._-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

/** A person's avatar: initials on a colour derived from the name. */
export function avatar(name, extra = '') {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const el = h('span', { class: `avatar ${extra}`.trim(), 'aria-hidden': 'true', text: initials(name) });
  el.style.setProperty('--avatar-hue', String(hash % 360));
  return el;
}

export const botAvatar = () => h('span', { class: 'avatar avatar-bot', 'aria-hidden': 'true', text: '✓' });
