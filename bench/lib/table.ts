/** The results table, as Markdown (readable in a terminal, pasteable into docs/benchmarks.md). */
import type { Row } from './figure.js';

export function renderTable(rows: readonly Row[], extra?: { machine: string; date: string }): string {
  const head = ['figure', 'signoff', 'baseline', 'ratio', 'target', 'pass/fail', ...(extra ? ['machine', 'date'] : [])];
  const body = rows.map((r) => [
    r.figure, r.signoff, r.baseline, r.ratio, r.target, r.pass === null ? '—' : r.pass ? 'pass' : 'FAIL',
    ...(extra ? [extra.machine, extra.date] : []),
  ]);
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => cell(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
