/**
 * Carries out a parsed command for a person on any surface and answers in plain text (each
 * surface escapes it for its own format). Reading commands need the person to be an operator.
 */
import type { ChangeOptions, Engine } from '../../orchestrator/engine.js';
import { actorFor, type Identity } from '../../orchestrator/policy.js';
import type { Origin } from '../../orchestrator/types.js';
import { formatDuration } from '../../config/duration.js';
import { eventLine } from './audit-line.js';
import { helpText, type Command } from './parse.js';
import { withExternalNotes } from '../views/external-note.js';
import { jobStatusView } from '../views/job-status.js';
import type { JobStatusView } from '../views/types.js';
import { consoleAnchor, pendingFor, pendingText, type PendingItem } from '../views/pending.js';

export interface CommandReply {
  ok: boolean;
  text: string;
  /** The job the command created or is about. */
  jobId?: number;
  status?: JobStatusView;
  /** The surface should open its submit form (a Slack modal, a console dialog). */
  form?: 'submit';
  /** `/signoff pending`: the gates waiting for the person, for surfaces that add links and buttons. */
  pending?: PendingItem[];
}

/** `opts` apply to the change a command makes (a bounded lock wait before an acknowledgement). */
export async function executeCommand(engine: Engine, who: Identity, command: Command, origin: Origin, opts: ChangeOptions = {}): Promise<CommandReply> {
  const actor = actorFor(engine.config.operators, who);
  const store = engine.store;
  if (command.name === 'help') return { ok: true, text: helpText(command.topic) };
  if (!actor.admin && actor.groups.length === 0)
    return { ok: false, text: `You are not a signoff operator here (${who.platform}:${who.user}). Ask an admin to add you to a group under operators in the signoff config.` };
  switch (command.name) {
    case 'submit-form':
      return { ok: true, text: helpText('submit'), form: 'submit' };
    case 'submit': {
      const r = await engine.submit(who, { pipeline: command.pipeline, brief: command.brief, params: command.params, origin }, opts);
      return r.ok ? { ok: true, text: r.message, jobId: r.jobId } : { ok: false, text: r.message };
    }
    case 'status': {
      const agg = await store.jobs.load(command.job);
      if (!agg) return notFound(command.job);
      const position = agg.job.state === 'queued' ? await store.queries.queuePosition(agg.job.id) : null;
      const view = withExternalNotes(jobStatusView(agg, position), await store.externalRuns.waitingForJob(agg.job.id), engine.now());
      const lines = view.stages.map((s) => `${s.icon} ${s.name}${s.durationMs !== null ? ` (${formatDuration(s.durationMs)})` : ''}${s.note ? ` — ${s.note}` : ''}`);
      return { ok: true, jobId: agg.job.id, status: view, text: [`${view.icon} ${view.title}: ${view.stateLabel}`, `Brief: ${view.brief}`, ...lines, ...(view.error ? [`Error: ${view.error}`] : [])].join('\n') };
    }
    case 'list': {
      const rows = await store.queries.list({ ...(command.state ? { state: command.state } : {}), limit: 15 });
      if (!rows.length) return { ok: true, text: command.state ? `No ${command.state.replace('_', ' ')} jobs.` : 'No jobs yet. Start one with /signoff submit <pipeline> <brief>.' };
      return {
        ok: true,
        text: rows.map((r) => `#${r.id} ${r.pipeline} — ${r.state.replace('_', ' ')}${r.stage ? ` (${r.stage})` : ''} — ${r.submitter.replace(/^[a-z]+:/, '')} — ${oneLine(r.brief, 60)}`).join('\n'),
      };
    }
    case 'pipelines':
      return {
        ok: true,
        text: Object.entries(engine.config.pipelines)
          .map(([name, p]) => `${name}: ${p.description || 'no description'}\n  stages: ${p.stages.map((s) => (s.gate ? `${s.id} [${s.gate.required ? 'approval' : 'review'}]` : s.id)).join(' → ')}${Object.keys(p.params).length ? `\n  params: ${Object.keys(p.params).join(', ')}` : ''}`)
          .join('\n'),
      };
    case 'pending': {
      const items = await pendingFor(store, actor);
      // The console links each card by its anchor; Slack and Discord add their own links.
      return { ok: true, pending: items, text: pendingText(items, engine.now(), origin.surface === 'console' ? consoleAnchor : undefined) };
    }
    case 'audit': {
      if (!(await store.jobs.load(command.job))) return notFound(command.job);
      const events = await store.events.forJob(command.job, 0, 500);
      return { ok: true, jobId: command.job, text: [`Audit of job ${command.job} (${events.length} events):`, ...events.map(eventLine)].join('\n') };
    }
    case 'cancel':
    case 'retry':
    case 'approve':
    case 'reject':
    case 'hold': {
      const action =
        command.name === 'cancel' ? { type: 'cancel' as const, ...(command.reason ? { reason: command.reason } : {}) }
        : command.name === 'retry' ? { type: 'retry' as const }
        : command.name === 'reject' ? { type: 'reject' as const, stage: command.stage, reason: command.reason }
        : { type: command.name, stage: command.stage };
      const r = await engine.act(who, command.job, action, opts);
      return { ok: r.ok, text: r.message, jobId: command.job };
    }
  }
}

function notFound(job: number): CommandReply {
  return { ok: false, text: `There is no job ${job}. /signoff list shows recent jobs.` };
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
