/**
 * Pipelines for the round-diff tests: command stages (tests/fixtures/redo-stage.mjs) whose output
 * depends on SIGNOFF_REDO_REASON, each behind a required gate, then a stage that records the
 * approval notes it was handed.
 */
import path from 'node:path';

const SCRIPT = path.resolve(import.meta.dirname, '../fixtures/redo-stage.mjs');

const stage = (id: string, mode: string) => `
      - id: ${id}
        run: { command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SCRIPT)}, ${mode}] }
        gate: { required: true, approvers: [editors] }`;

const publish = `
      - id: publish
        run: { command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SCRIPT)}, publish] }`;

/** `redo` (text, image, binaries), `binonly` (one binary file) and `big` (a text file over the cap). */
export function redoPipelines(): string {
  return `
  redo:
    description: output depends on the redo reason
    stages:${stage('write', 'write')}${publish}
  binonly:
    description: no text artifacts
    stages:${stage('write', 'binonly')}
  big:
    description: a text file over the diff cap
    stages:${stage('write', 'big')}`;
}

/** Operators for the Slack test: alice and bob edit (by Slack user id). */
export const OPERATORS_SLACK = `
operators:
  editors: { slack: [U0ALICE, U0BOB], console: [alice, bob] }
submitters: [editors]`;

/** Operators for the Discord test: alice and bob edit (by Discord user id). */
export function operatorsDiscord(alice: string, bob: string): string {
  return `
operators:
  editors: { discord: ["${alice}", "${bob}"] }
submitters: [editors]`;
}
