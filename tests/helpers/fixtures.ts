/** Temporary directories, configs and a controllable clock for tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export function tempDir(prefix = 'signoff-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const silentLog = pino({ level: 'silent' });

/** A clock the test moves by hand. */
export class FakeClock {
  constructor(public t = Date.UTC(2026, 0, 1, 9, 0, 0)) {}
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

export function configFrom(yaml: string): Config {
  return parseConfig(yaml, 'test.yaml');
}

/** Operators used by most tests: alice and bob edit, carol directs, dave is only a viewer. */
export const OPERATORS = `
operators:
  editors: { console: [alice, bob], slack: [U0ALICE], discord: ["1001"], discord_roles: ["2002"] }
  directors: { console: [carol], slack_usergroups: [S0DIR] }
  viewers: { console: [dave] }
submitters: [editors, directors]
`;

/** The `quick` pipeline: instant builtin stages with every kind of gate. */
export function quickPipeline(autoApprove = '30s'): string {
  return `
  quick:
    description: quick test pipeline
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: ${autoApprove} }
      - id: script
        run: { builtin: script }
        gate: { required: true, approvers: [editors], timeout: 1h, on_timeout: reject }
      - id: storyboard
        run: { builtin: storyboard }
        gate: { required: true, approvers: [editors, directors], min_approvals: 2 }`;
}

/**
 * The chat surfaces' pipelines: `quick`, `gated` (one required gate, then one more stage) and
 * `tiny` (an optional gate, then one more stage), under `limits`, for the operators given.
 */
export function chatTestConfig(operators: string, autoApprove = '30s'): string {
  return `${operators}
limits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }
pipelines:${quickPipeline(autoApprove)}
  gated:
    description: one required gate, then one more stage
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: true, approvers: [editors] }
      - id: script
        run: { builtin: script }
  tiny:
    description: one stage, one optional gate
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: ${autoApprove} }
      - id: script
        run: { builtin: script }
`;
}

/** A small config: the operators above and the `quick` pipeline. */
export const QUICK_PIPELINE = `${OPERATORS}
limits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }
pipelines:${quickPipeline()}
`;
