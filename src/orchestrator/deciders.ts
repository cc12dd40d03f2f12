/**
 * Who must decide a gate, per platform: the one answer that mentions, direct messages, reminders,
 * escalation and "what waits for me" all share. Pure: configuration and gate in, ids out; chat
 * surfaces turn the ids into their own mention markup and expand groups where they can.
 */
import type { Config, GateDef } from '../config/schema.js';
import { mayDecide } from './policy.js';
import type { Actor, Gate, Job } from './types.js';

/** The people and groups to reach on each platform, each list sorted and without repeats. */
export interface Deciders {
  /** Operator group names these come from (for the card's words, not for pinging). */
  groups: string[];
  slack: { users: string[]; usergroups: string[] };
  discord: { users: string[]; roles: string[] };
  console: string[];
}

export interface DecidersQuery {
  /**
   * `approvers`: the gate's approvers, plus its escalation groups once it has escalated (who
   * may decide now). `escalation`: only the escalation groups (who is told when it escalates).
   */
  who?: 'approvers' | 'escalation';
  /** Leave out people who already voted on this round (reminders). */
  skipVoters?: boolean;
}

const uniq = (xs: Iterable<string>) => [...new Set(xs)].sort();

/**
 * The deciders of `gate` (a round of the gate `def`) of `job`. The submitter is left out when
 * the gate forbids self-approval: they may not approve, so they are not asked to. A person is
 * left out by their own id only; a user group or role is always reached whole, since who is in
 * it is only known to the platform (surfaces expanding groups use {@link excludedActors}).
 */
export function decidersOf(
  operators: Config['operators'],
  def: GateDef,
  gate: Pick<Gate, 'votes' | 'escalatedAt'>,
  job: Pick<Job, 'submitter'>,
  query: DecidersQuery = {},
): Deciders {
  const escalation = def.escalate_to ?? [];
  const groups = query.who === 'escalation' ? escalation : [...def.approvers, ...(gate.escalatedAt !== null ? escalation : [])];
  const excluded = new Set(excludedActors(def, gate, job, query));
  const keep = (platform: string) => (user: string) => !excluded.has(`${platform}:${user}`);
  const found = groups.map((g) => operators[g]).filter((g) => g !== undefined);
  return {
    groups: uniq(groups),
    slack: { users: uniq(found.flatMap((g) => g.slack).filter(keep('slack'))), usergroups: uniq(found.flatMap((g) => g.slack_usergroups)) },
    discord: { users: uniq(found.flatMap((g) => g.discord).filter(keep('discord'))), roles: uniq(found.flatMap((g) => g.discord_roles)) },
    console: uniq(found.flatMap((g) => g.console).filter(keep('console'))),
  };
}

/** Actor ids (`slack:U…`) never to reach about this gate round: the submitter who may not approve, and (on request) voters. */
export function excludedActors(def: GateDef, gate: Pick<Gate, 'votes'>, job: Pick<Job, 'submitter'>, query: DecidersQuery = {}): string[] {
  return uniq([...(def.allow_self_approval ? [] : [job.submitter]), ...(query.skipVoters ? gate.votes.map((v) => v.actor) : [])]);
}

/** Whether anyone is to be reached at all. */
export function hasDeciders(d: Deciders): boolean {
  return d.slack.users.length + d.slack.usergroups.length + d.discord.users.length + d.discord.roles.length + d.console.length > 0;
}

/**
 * Does this open gate round wait for `actor` now: they may decide it (escalation groups only
 * after escalation), they are not its submitter barred from approving, and they have not voted.
 */
export function waitsFor(actor: Actor, def: GateDef, gate: Pick<Gate, 'state' | 'votes' | 'escalatedAt'>, job: Pick<Job, 'submitter'>): boolean {
  if (gate.state !== 'pending' && gate.state !== 'held') return false;
  if (!mayDecide(def, actor, gate.escalatedAt !== null)) return false;
  if (!actor.admin && actor.id === job.submitter && !def.allow_self_approval) return false;
  return !gate.votes.some((v) => v.actor === actor.id);
}
