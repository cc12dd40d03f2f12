/** The shape every figure of the bench has: measured runs of named numbers, then table rows. */

export type Sample = Record<string, number>;

export interface RunContext {
  /** 0-based index of this run. */
  run: number;
  /** When set, spawned processes write --cpu-prof profiles here. */
  profileDir: string | undefined;
  /** Progress lines (stderr). */
  log(message: string): void;
}

export interface Row {
  figure: string;
  signoff: string;
  baseline: string;
  ratio: string;
  target: string;
  /** null when the row has no target of its own (context). */
  pass: boolean | null;
}

export interface Figure {
  id: string;
  title: string;
  /** Work done once before the runs (e.g. building a database), shared by them. */
  prepare?(log: (message: string) => void): Promise<void>;
  run(ctx: RunContext): Promise<Sample>;
  rows(median: Sample): Row[];
  /** Removes what prepare() made. */
  cleanup?(): Promise<void>;
}

/** Formatting helpers for table cells. */
export const fmt = {
  ms: (v: number) => (Number.isNaN(v) ? 'n/a' : v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`),
  x: (v: number) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(2)}×`),
  n: (v: number, digits = 0) => (Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })),
  mb: (kb: number) => (Number.isNaN(kb) ? 'n/a' : `${(kb / 1024).toFixed(1)} MB`),
  kb: (bytes: number) => (Number.isNaN(bytes) ? 'n/a' : `${(bytes / 1024).toFixed(1)} KB`),
};
