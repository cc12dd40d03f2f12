/**
 * Who a Slack user is for signoff: their user id, and which of the configured Slack user groups
 * they are in. Membership is asked of Slack (`usergroups.users.list`) at click time and cached
 * briefly, so a change in Slack takes effect within a minute without hammering the API.
 */
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Identity } from '../../orchestrator/policy.js';

const LOOKUP_TIMEOUT_MS = 1_500;

export class SlackIdentities {
  private readonly cache = new Map<string, { users: Set<string>; until: number }>();
  private readonly groups: string[];

  constructor(
    private readonly client: WebClient,
    operators: Config['operators'],
    private readonly log: Logger,
    private readonly ttlMs = 60_000,
  ) {
    this.groups = [...new Set(Object.values(operators).flatMap((g) => g.slack_usergroups))];
  }

  async resolve(userId: string, name?: string): Promise<Identity> {
    const member = await Promise.all(this.groups.map(async (g) => ((await this.members(g)).has(userId) ? g : undefined)));
    return { platform: 'slack', user: userId, display: name || userId, usergroups: member.filter((g): g is string => g !== undefined) };
  }

  /** The members of a user group (cached like membership checks; empty when Slack cannot say). */
  async membersOf(usergroup: string): Promise<string[]> {
    return [...(await this.members(usergroup))];
  }

  private async members(usergroup: string): Promise<Set<string>> {
    const hit = this.cache.get(usergroup);
    if (hit && hit.until > Date.now()) return hit.users;
    // Interactions must be answered within 3 s: a slow Slack gets 1.5 s, then the last known
    // list is used (the lookup goes on and fills the cache for the next click).
    const lookup = this.fetch(usergroup, hit);
    const timeout = new Promise<Set<string>>((resolve) => {
      const t = setTimeout(() => resolve(hit?.users ?? new Set()), LOOKUP_TIMEOUT_MS);
      void lookup.finally(() => clearTimeout(t));
    });
    return Promise.race([lookup, timeout]);
  }

  private async fetch(usergroup: string, hit: { users: Set<string> } | undefined): Promise<Set<string>> {
    try {
      const r = await this.client.usergroups.users.list({ usergroup });
      const users = new Set(r.users ?? []);
      this.cache.set(usergroup, { users, until: Date.now() + this.ttlMs });
      return users;
    } catch (err) {
      // Without an answer we cannot confirm membership: the person is treated as not in the group
      // (the refusal says so), and the last known list is used if there is one.
      this.log.warn({ err, usergroup }, 'could not read a Slack user group');
      return hit?.users ?? new Set();
    }
  }
}
