/*
 * signoff console: formatting of clocks, durations, times and sizes.
 */

const pad = (n) => String(n).padStart(2, '0');

/** A countdown: "0:27", "23:59:58". */
export function fmtClock(ms) {
  const t = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return hours ? `${hours}:${pad(m)}:${pad(t % 60)}` : `${m}:${pad(t % 60)}`;
}

/** A duration: "850ms", "12s", "2m 5s", "3h 4m", "2d 1h". */
export function fmtDuration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return m % 60 ? `${hrs}h ${m % 60}m` : `${hrs}h`;
  return hrs % 24 ? `${Math.floor(hrs / 24)}d ${hrs % 24}h` : `${Math.floor(hrs / 24)}d`;
}

export const fmtTime = (at) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
export const fmtFull = (at) => new Date(at).toLocaleString();

export function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
