/**
 * The one schema of signoff's configuration file (`conf/signoff.yaml`). Every key is checked
 * here: unknown keys are errors, so a typo fails at start instead of being ignored.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,39}$/, 'use lower-case letters, digits, "-" or "_", starting with a letter (at most 40)');

/** A duration such as `30s`, `10m`, `24h`, turned into milliseconds. */
export const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write e.g. 30s, 10m, 24h or 2d` });
    return z.NEVER;
  }
  return ms;
});

const ids = z.array(z.string().min(1)).default([]);

const operatorGroup = z.strictObject({
  slack: ids,
  slack_usergroups: ids,
  discord: ids,
  discord_roles: ids,
  console: ids,
});

/** On PostgreSQL, the pool of workers that takes the stage's runs (`SIGNOFF_POOLS`); default `default`. */
const pool = name.optional();
const builtinRun = z.strictObject({
  builtin: z.string().min(1),
  /** Pretend work time, so a demo shows stages progressing. */
  delay: duration.optional(),
  pool,
});
const commandRun = z.strictObject({
  command: z.array(z.string().min(1)).min(1, 'give the program and its arguments, e.g. ["node", "script.mjs"]'),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).default({}),
  timeout: duration.prefault('10m'),
  /** Limits of the wait when the program hands off with `::external::` (see external.ts). */
  external: z.strictObject({ timeout: duration.prefault('6h'), heartbeat: duration.optional() }).optional(),  pool,
});
const httpRun = z.strictObject({
  http: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    timeout: duration.prefault('60s'),
    headers: z.record(z.string(), z.string()).default({}),
  }),
  pool,
});
/** Work done elsewhere (CI, a render farm, a person's script) that reports back with a run token. */
const externalRun = z.strictObject({
  external: z.strictObject({
    notify: z
      .strictObject({
        url: z.url({ protocol: /^https?$/ }),
        headers: z.record(z.string(), z.string()).default({}),
        cancel_url: z.url({ protocol: /^https?$/ }).optional(),
      })
      .optional(),
    timeout: duration.prefault('6h'),
    heartbeat: duration.optional(),
  }),
});
const run = z.union([builtinRun, commandRun, httpRun, externalRun], {
  error: 'a stage runs exactly one of { builtin: NAME }, { command: [...] }, { http: { url } } or { external: { … } }',
});

const gate = z.strictObject({
  required: z.boolean().default(true),
  approvers: z.array(name).min(1, 'name at least one operator group that may decide'),
  min_approvals: z.number().int().min(1).max(20).default(1),
  allow_self_approval: z.boolean().default(false),
  /** Optional gates approve themselves when this runs out, unless decided or held first. */
  auto_approve_after: duration.optional(),
  /** Required gates: what happens when nobody decides in time. */
  timeout: duration.optional(),
  on_timeout: z.enum(['approve', 'reject', 'fail']).default('reject'),
  /** Reminders this long before the timeout (default: one when a quarter of it is left). */
  remind_before: z.array(duration).optional(),
  /** How deciders are told a gate waits for them: a mention in the thread, a direct message, both, or neither. */
  notify: z.enum(['mention', 'dm', 'both', 'none']).default('mention'),
  /** After this long undecided, the `escalate_to` groups are told and may decide too. */
  escalate_after: duration.optional(),
  escalate_to: z.array(name).default([]),
});

const param = z.strictObject({
  description: z.string().default(''),
  required: z.boolean().default(false),
  default: z.string().optional(),
});

const stage = z.strictObject({
  id: name,
  name: z.string().optional(),
  run,
  retries: z.number().int().min(0).max(10).default(0),
  retry_backoff: duration.prefault('2s'),
  gate: gate.optional(),
});

const channels = z.strictObject({ slack: z.string().optional(), discord: z.string().optional() });

const pipeline = z.strictObject({
  description: z.string().default(''),
  /** Where this pipeline's jobs are posted, instead of the global `channels`. */
  channels: channels.optional(),
  params: z.record(name, param).default({}),
  stages: z.array(stage).min(1, 'a pipeline needs at least one stage'),
});

export const configSchema = z
  .strictObject({
    operators: z.record(name, operatorGroup).default({}),
    submitters: z.array(name).optional(),
    limits: z
      .strictObject({
        jobs_per_user_per_minute: z.number().int().min(1).default(5),
        max_concurrent_jobs: z.number().int().min(1).default(4),
        max_brief_chars: z.number().int().min(1).max(100_000).default(4_000),
      })
      .default({ jobs_per_user_per_minute: 5, max_concurrent_jobs: 4, max_brief_chars: 4_000 }),
    channels: channels.default({}),
    console: z.strictObject({ enabled: z.boolean().default(true) }).default({ enabled: true }),
    http: z
      .strictObject({
        cors_origins: z.array(z.string()).default([]),
        body_limit_bytes: z.number().int().min(1_024).default(262_144),
      })
      .default({ cors_origins: [], body_limit_bytes: 262_144 }),
    pipelines: z.record(name, pipeline).refine((p) => Object.keys(p).length > 0, 'define at least one pipeline'),
  })
  .superRefine((config, ctx) => {
    const groups = new Set(Object.keys(config.operators));
    const unknownGroup = (group: string, path: (string | number)[]) =>
      ctx.addIssue({
        code: 'custom',
        path,
        message: `unknown operator group "${group}"; define it under operators (known: ${[...groups].join(', ') || 'none'})`,
      });
    config.submitters?.forEach((g, i) => groups.has(g) || unknownGroup(g, ['submitters', i]));
    for (const [pipelineName, p] of Object.entries(config.pipelines)) {
      const seen = new Set<string>();
      p.stages.forEach((s, i) => {
        const at = ['pipelines', pipelineName, 'stages', i];
        if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: [...at, 'id'], message: `stage id "${s.id}" is used twice` });
        seen.add(s.id);
        if (!s.gate) return;
        s.gate.approvers.forEach((g, j) => groups.has(g) || unknownGroup(g, [...at, 'gate', 'approvers', j]));
        s.gate.escalate_to.forEach((g, j) => groups.has(g) || unknownGroup(g, [...at, 'gate', 'escalate_to', j]));
        if ((s.gate.escalate_after === undefined) !== (s.gate.escalate_to.length === 0))
          ctx.addIssue({ code: 'custom', path: [...at, 'gate', s.gate.escalate_after === undefined ? 'escalate_after' : 'escalate_to'], message: 'escalation needs both escalate_after (e.g. 2h) and escalate_to (operator groups)' });
        if (!s.gate.required && s.gate.auto_approve_after === undefined)
          ctx.addIssue({ code: 'custom', path: [...at, 'gate', 'auto_approve_after'], message: 'an optional gate (required: false) needs auto_approve_after, e.g. 30m' });
        if (s.gate.required && s.gate.auto_approve_after !== undefined)
          ctx.addIssue({ code: 'custom', path: [...at, 'gate', 'auto_approve_after'], message: 'only optional gates auto-approve; use timeout with on_timeout: approve on a required gate' });
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type Pipeline = Config['pipelines'][string];
export type StageDef = Pipeline['stages'][number];
export type GateDef = NonNullable<StageDef['gate']>;
export type StageRun = StageDef['run'];
export type OperatorGroup = Config['operators'][string];
