/**
 * Who may do what. Pure functions over the configuration and an identity; chat surfaces first
 * resolve what only the platform knows (Discord roles, Slack user-group membership) and pass it in.
 */
import type { Config, GateDef, Pipeline } from '../config/schema.js';
import type { Actor, Job } from './types.js';

/** A person as a platform knows them. `user` is the platform's id (Slack U…, Discord snowflake, console name). */
export interface Identity {
  platform: 'console' | 'slack' | 'discord' | 'api';
  user: string;
  display?: string;
  /** Discord role ids of the member, from the interaction. */
  roles?: string[];
  /** Slack user groups (S…) the user was found in, resolved by the Slack surface. */
  usergroups?: string[];
}

export const API_ACTOR_ID = 'api';

/** The operator groups an identity belongs to. */
export function groupsOf(operators: Config['operators'], who: Identity): string[] {
  const hit = (list: string[], values: string[] | undefined) => values?.some((v) => list.includes(v)) ?? false;
  return Object.entries(operators)
    .filter(([, g]) => {
      switch (who.platform) {
        case 'slack':
          return g.slack.includes(who.user) || hit(g.slack_usergroups, who.usergroups);
        case 'discord':
          return g.discord.includes(who.user) || hit(g.discord_roles, who.roles);
        case 'console':
          return g.console.includes(who.user);
        case 'api':
          return false;
      }
    })
    .map(([name]) => name);
}

/** Builds the actor the orchestrator sees: `platform:user`, or `api` for the token holder. */
export function actorFor(operators: Config['operators'], who: Identity): Actor {
  if (who.platform === 'api') return { id: API_ACTOR_ID, display: 'api', groups: [], admin: true };
  return {
    id: `${who.platform}:${who.user}`,
    display: who.display ?? who.user,
    groups: groupsOf(operators, who),
    admin: false,
  };
}

const overlaps = (a: readonly string[], b: readonly string[]) => a.some((x) => b.includes(x));

/** May this actor submit jobs? `submitters` omitted means any configured operator. */
export function maySubmit(config: Pick<Config, 'submitters'>, actor: Actor): boolean {
  if (actor.admin) return true;
  return config.submitters ? overlaps(actor.groups, config.submitters) : actor.groups.length > 0;
}

/**
 * May this actor decide (approve, reject, hold) a gate? The `escalate_to` groups may, but only
 * once the gate has escalated.
 */
export function mayDecide(gate: GateDef, actor: Actor, escalated = false): boolean {
  // Pipelines stored before escalation existed have no escalate_to.
  return actor.admin || overlaps(actor.groups, gate.approvers) || (escalated && overlaps(actor.groups, gate.escalate_to ?? []));
}

/** May this actor cancel or retry a job: its submitter, or anyone who may decide one of its gates. */
export function mayManage(job: Pick<Job, 'submitter'>, def: Pipeline, actor: Actor): boolean {
  if (actor.admin || actor.id === job.submitter) return true;
  return def.stages.some((s) => s.gate !== undefined && mayDecide(s.gate, actor));
}
