/*
 * signoff console: a job's timeline, drawn as SVG — one bar per stage run and gate wait.
 */
import { fill, h, svg } from './dom.js';
import { fmtDuration } from './format.js';
import { FINISHED, OPEN_BARS, serverNow } from './state.js';

export function renderTimeline(entry) {
  const tl = entry.timeline;
  const fig = entry.refs.timeline;
  if (!tl || !tl.bars.length) { fig.hidden = true; fig.replaceChildren(); return; }
  if (!entry.expanded) return; // drawn when shown, at the width it then has
  fig.hidden = false;
  const live = !FINISHED.has(entry.status.state);
  const now = serverNow();
  const bars = tl.bars.map((b) => ({ ...b, end: live && OPEN_BARS.has(b.state) ? Math.max(b.end, now) : b.end }));
  const start = tl.start;
  const end = Math.max(tl.end, ...bars.map((b) => b.end), start + 1);
  const W = Math.max(320, Math.min(1100, Math.round(fig.clientWidth || entry.refs.thread.clientWidth || 640)));
  const LABEL = Math.min(170, Math.round(W * 0.3));
  const RIGHT = 64;
  const ROW = 24;
  const TOP = 6;
  const plotW = W - LABEL - RIGHT;
  const H = TOP + bars.length * ROW + 30;
  const x = (t) => LABEL + ((t - start) / (end - start)) * plotW;
  const hatch = `hatch-${entry.id}`;
  const total = fmtDuration(end - start);
  const root = svg('svg', { class: 'timeline-svg', 'data-timeline': entry.id, viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `Timeline of job ${entry.id}: ${bars.length} bars over ${total}` },
    svg('title', { text: `Timeline of job ${entry.id}, total ${total}` }),
    svg('defs', {}, svg('pattern', { id: hatch, patternUnits: 'userSpaceOnUse', width: 6, height: 6, patternTransform: 'rotate(45)' }, svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line' }))));
  const axisY = TOP + bars.length * ROW + 4;
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const gx = LABEL + f * plotW;
    root.append(svg('line', { class: 'tl-grid', x1: gx, x2: gx, y1: TOP, y2: axisY }),
      svg('text', { class: 'tl-tick', x: gx, y: axisY + 16, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle', text: fmtDuration((end - start) * f) }));
  }
  root.append(svg('line', { class: 'tl-axis', x1: LABEL, x2: LABEL + plotW, y1: axisY, y2: axisY }));
  bars.forEach((b, i) => {
    const y = TOP + i * ROW;
    const x0 = x(b.start);
    const w = Math.max(3, x(b.end) - x0);
    const dur = fmtDuration(b.end - b.start);
    const tip = svg('title', { text: `${b.label}: ${dur} (${b.state.replace('_', ' ')})` });
    const short = b.label.length > 24 ? `${b.label.slice(0, 23)}…` : b.label;
    const g = svg('g', { class: `tl-row tl-${b.kind} tone-${b.tone}`, 'data-bar-kind': b.kind, 'data-bar-state': b.state }, tip,
      svg('text', { class: 'tl-label', x: LABEL - 8, y: y + ROW / 2, 'text-anchor': 'end', 'dominant-baseline': 'central', text: short }),
      svg('rect', { class: 'tl-bar', x: x0, y: y + 5, width: w, height: ROW - 10, rx: 3 }),
      b.kind === 'gate' ? svg('rect', { class: 'tl-hatch', x: x0, y: y + 5, width: w, height: ROW - 10, rx: 3, fill: `url(#${hatch})` }) : null,
      svg('text', { class: 'tl-dur', x: x0 + w + 5, y: y + ROW / 2, 'dominant-baseline': 'central', text: dur }));
    root.append(g);
  });
  fill(fig, root, h('figcaption', { class: 'timeline-caption' },
    h('span', { class: 'tl-total', text: `Total ${total}` }),
    h('span', { class: 'legend legend-stage', text: 'stage run' }),
    h('span', { class: 'legend legend-gate', text: 'gate wait' })));
}
