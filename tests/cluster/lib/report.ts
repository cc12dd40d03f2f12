/** The figures of a cluster chaos run as a Markdown table, ready to paste into docs/reliability.md. */
import type { ClusterChaosSummary } from './cluster-run.js';

export function markdownReport(s: ClusterChaosSummary, command: string): string {
  const c = s.cluster;
  const failovers = c.disruptions.map((d) => d.courierFailoverMs).filter((ms): ms is number => ms !== undefined);
  const kills = Object.entries(c.kills).map(([part, n]) => `${n} ${part === 'postgres' ? 'PostgreSQL restart' : part}`).join(', ');
  const rows: [string, string][] = [
    ['cluster', `${c.replicas} replica${c.replicas === 1 ? '' : 's'}, ${c.workersStarted} worker${c.workersStarted === 1 ? '' : 's'}${c.workersStarted !== c.workersAsked ? ` (${c.workersAsked} asked; no \`worker\` command in this build)` : ''}, one PostgreSQL; ${c.apart ? 'each process as if on a host of its own (the others\' directories hidden)' : 'all processes on one file system'}`],
    ['jobs', `${s.jobs} (${Object.entries(s.outcomes).map(([k, n]) => `${n} ${k}`).join(', ')}, as their clicks imply)`],
    ['disruptions', `${c.disruptions.length}: ${kills}; ${s.restarts} processes started again; ${s.durationS} s in all`],
    ['courier failover', failovers.length ? `${Math.max(...failovers)} ms at most over ${failovers.length} courier kills` : 'not reported by this build (/healthz has no `courier`)'],
    ['submissions', `${s.submissions.sent} sent (${s.submissions.viaApi} through the API), ${s.submissions.accepted} acknowledged, ${s.submissions.unanswered} unanswered, ${s.submissions.busy} answered busy, ${s.submissions.acknowledgedThenBusy} acknowledged then answered busy (sent again), ${s.submissions.carriedOutLate} carried out more than 10 s after a restart`],
    ['clicks and dialogs', `${s.clicks.sent} sent, ${s.clicks.accepted} acknowledged, ${s.clicks.applied} took effect, ${s.clicks.busy} answered busy, ${s.clicks.acknowledgedThenBusy} acknowledged then answered busy (sent again), ${s.clicks.carriedOutLate} carried out more than 10 s after a restart; ${s.clicks.replays} replays, ${s.clicks.replaysApplied} applied`],
    ['stage runs', `${s.stages.starts} starts, ${s.stages.recovered} recoveries, ${s.stages.processRuns} processes started; outputs from another run ${s.extra.outputsFromOtherRuns ?? 0}, missing or doubled ${s.extra.outputsMissingOrDoubled ?? 0}`],
    ['artifacts', `${s.extra.artifactDownloads ?? 0} downloads (every output of 10 finished jobs from every live replica), ${s.extra.artifactDownloadsFailed ?? 0} failed`],
    ['Slack', `${s.slack.apiCalls} Web API calls: ${s.slack.posts} posts, ${s.slack.uploads} uploads, ${s.slack.edits} edits`],
    ['gate decisions', `${s.gates.decisions}; decided twice ${s.gates.decidedTwice}; skipped ${s.gates.skipped}; by someone not allowed ${s.gates.byWrongPerson}`],
    ['chat messages', `${s.delivery.outboxRows} outbox rows; undelivered ${s.delivery.undelivered}; duplicates ${s.delivery.duplicates}; missing ${s.delivery.missing}; out of order ${s.delivery.outOfOrder}`],
    ['stuck jobs', String(s.stuck)],
    ['**lost**', `**${s.lost.submissions} submissions, ${s.lost.clicks} clicks**`],
    ['violations', String(s.violations.length)],
  ];
  return [`\`\`\`sh\n${command}\n\`\`\``, '', '| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}
