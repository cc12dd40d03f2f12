/**
 * The pipeline the chaos suites run: command stages (`node -e` and `sh -c` scripts) that take a
 * seeded pseudo-random 0–300 ms, write one artifact and log each run to a file, so a suite can
 * count how often each stage really ran.
 */

/** node: logs the run, waits 0–300 ms (from a hash of the seed, job, stage and attempt), writes `<stage>.txt`. */
const NODE_STAGE = [
  "const fs = require('fs'), crypto = require('crypto'), e = process.env;",
  "fs.appendFileSync(e.CHAOS_RUNS, `${e.SIGNOFF_JOB_ID} ${e.SIGNOFF_STAGE} ${e.SIGNOFF_ATTEMPT} ${process.pid}\\n`);",
  "const ms = crypto.createHash('sha256').update([e.CHAOS_SEED, e.SIGNOFF_JOB_ID, e.SIGNOFF_STAGE, e.SIGNOFF_ATTEMPT].join(':')).digest().readUInt16BE(0) % 301;",
  'setTimeout(() => {',
  "  fs.writeFileSync(e.SIGNOFF_OUTPUT_DIR + '/' + e.SIGNOFF_STAGE + '.txt', `job ${e.SIGNOFF_JOB_ID} ${e.SIGNOFF_STAGE} took ${ms} ms\\n`);",
  '  console.log(`${e.SIGNOFF_STAGE} took ${ms} ms`);',
  '}, ms);',
].join('\n');

/** The same in POSIX sh (dash): a cheaper process than node for half the stages. */
const SH_STAGE = [
  'echo "$SIGNOFF_JOB_ID $SIGNOFF_STAGE $SIGNOFF_ATTEMPT $$" >> "$CHAOS_RUNS"',
  'ms=$(( (SIGNOFF_JOB_ID * 7919 + ${#SIGNOFF_STAGE} * 104729 + CHAOS_SEED) % 301 ))',
  'sleep "$(printf \'0.%03d\' "$ms")"',
  'echo "job $SIGNOFF_JOB_ID $SIGNOFF_STAGE took $ms ms" > "$SIGNOFF_OUTPUT_DIR/$SIGNOFF_STAGE.txt"',
  'echo "$SIGNOFF_STAGE took $ms ms"',
].join('\n');

export function nodeStage(runsLog: string, seed: number): string {
  return `{ command: ${JSON.stringify(['node', '-e', NODE_STAGE])}, env: { CHAOS_RUNS: ${JSON.stringify(runsLog)}, CHAOS_SEED: "${seed}" }, timeout: 2m }`;
}

export function shStage(runsLog: string, seed: number): string {
  return `{ command: ${JSON.stringify(['sh', '-c', SH_STAGE])}, env: { CHAOS_RUNS: ${JSON.stringify(runsLog)}, CHAOS_SEED: "${seed}" }, timeout: 2m }`;
}

/** Slack people of the chaos runs. */
export const PEOPLE = {
  alice: 'U0ALICE',
  bob: 'U0BOB',
  erin: 'U0ERIN',
  /** A director through the S0DIR user group (membership read from Slack). */
  carol: 'U0CAROL',
  /** May submit, may decide nothing. */
  sue: 'U0SUE',
  /** An operator of a group no gate names. */
  vic: 'U0VIC',
  /** Not an operator at all. */
  mallory: 'U0MALLORY',
} as const;
export const EDITORS: string[] = [PEOPLE.alice, PEOPLE.bob, PEOPLE.erin];
export const DIRECTOR_GROUP = 'S0DIR';

/** Operators: editors decide everything, directors only `review`, requesters submit. */
export const CHAOS_OPERATORS = `
operators:
  editors: { slack: [${EDITORS.join(', ')}] }
  directors: { slack_usergroups: [${DIRECTOR_GROUP}] }
  requesters: { slack: [${PEOPLE.sue}] }
  viewers: { slack: [${PEOPLE.vic}] }
submitters: [editors, requesters]
`;

/**
 * `chaos`: draft (optional gate, auto-approves) → review (required, two approvals, editors or
 * directors) → package (no gate) → publish (required, one editor). No self-approval anywhere.
 */
export function chaosPipelineYaml(o: { runsLog: string; seed: number; autoApprove: string; maxConcurrent: number; channel?: string; discordChannel?: string; extra?: string }): string {
  const channels = [o.channel ? `slack: ${o.channel}` : '', o.discordChannel ? `discord: "${o.discordChannel}"` : ''].filter(Boolean).join(', ');
  return `${CHAOS_OPERATORS}
limits: { jobs_per_user_per_minute: 100000, max_concurrent_jobs: ${o.maxConcurrent}, max_brief_chars: 4000 }
channels: { ${channels} }
console: { enabled: false }
pipelines:
  chaos:
    description: chaos test pipeline
    stages:
      - id: draft
        run: ${nodeStage(o.runsLog, o.seed)}
        gate: { required: false, approvers: [editors], auto_approve_after: ${o.autoApprove} }
      - id: review
        run: ${shStage(o.runsLog, o.seed)}
        gate: { required: true, approvers: [editors, directors], min_approvals: 2 }
      - id: package
        run: ${shStage(o.runsLog, o.seed)}
      - id: publish
        run: ${nodeStage(o.runsLog, o.seed)}
        gate: { required: true, approvers: [editors] }
${o.extra ?? ''}`;
}

/** Who may decide which gate of `chaos`, by Slack actor id (`slack:U…`). */
export function chaosMayDecide(actor: string, stage: string): boolean {
  const user = actor.replace(/^slack:/, '');
  if (stage === 'review') return EDITORS.includes(user) || user === PEOPLE.carol;
  return EDITORS.includes(user);
}

/** Each run of each stage, from the runs log: `job:stage` → how many times its process started. */
export function countRuns(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [job, stage] = line.trim().split(' ');
    if (!job || !stage) continue;
    counts.set(`${job}:${stage}`, (counts.get(`${job}:${stage}`) ?? 0) + 1);
  }
  return counts;
}
