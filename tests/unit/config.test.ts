/**
 * The configuration file as a person writing it sees it: good files load with every default
 * filled in, and every mistake stops with a message naming the file, the line, the dotted path
 * of the bad key and what was expected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import type { Config, StageDef } from '../../src/config/schema.js';
import { tempDir } from '../helpers/fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILE = 'file.yaml';

/** Parses `text` expecting a ConfigError, and returns its message. */
function configError(text: string, file = FILE): string {
  let caught: unknown;
  try {
    parseConfig(text, file);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'the configuration should have been refused').toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.file).toBe(file);
  return err.message;
}

/** The problem must be reported at `file.yaml:<line>` with the dotted path, saying what was expected. */
function expectProblem(text: string, problem: { line: number | number[]; path: string; says: RegExp }): string {
  const message = configError(text);
  const lines = [problem.line].flat();
  const atLine = message.split('\n').find((l) => lines.some((n) => l.includes(`${FILE}:${n}: ${problem.path}:`)));
  expect(atLine, `a line of the message should read "${FILE}:<${lines.join(' or ')}>: ${problem.path}: ..."; got:\n${message}`).toBeDefined();
  expect(atLine).toMatch(problem.says);
  return message;
}

function stage(config: Config, pipeline: string, id: string): StageDef {
  const s = config.pipelines[pipeline]?.stages.find((st) => st.id === id);
  if (!s) throw new Error(`no stage ${pipeline}/${id}`);
  return s;
}

function commandOf(s: StageDef) {
  if (!('command' in s.run)) throw new Error(`stage ${s.id} is not a command stage`);
  return s.run;
}

function builtinOf(s: StageDef) {
  if (!('builtin' in s.run)) throw new Error(`stage ${s.id} is not a builtin stage`);
  return s.run;
}

function httpOf(s: StageDef) {
  if (!('http' in s.run)) throw new Error(`stage ${s.id} is not an http stage`);
  return s.run.http;
}

/** One operator group and a one-stage pipeline; `stages` is the YAML of the stage list (6 spaces deep). */
const OPS = `operators:
  editors: { console: [alice] }
`;
const withStages = (stages: string) => `${OPS}pipelines:
  demo:
    stages:
${stages}`;
// Line numbers in withStages(): 1 operators, 2 editors, 3 pipelines, 4 demo, 5 stages, 6 first stage.

describe('the bundled configuration files', () => {
  it('conf/signoff.yaml loads with its pipelines, gates and durations', () => {
    const config = loadConfig(path.join(ROOT, 'conf', 'signoff.yaml'));
    expect(Object.keys(config.pipelines)).toEqual(['demo']);
    expect(config.pipelines.demo!.stages.map((s) => s.id)).toEqual(['outline', 'script', 'storyboard', 'assets', 'audio', 'render']);
    expect(Object.keys(config.operators)).toEqual(['editors', 'directors', 'viewers']);
    expect(config.operators.directors).toEqual({ console: ['carol'], slack: [], slack_usergroups: [], discord: [], discord_roles: [] });
    expect(config.submitters).toEqual(['editors', 'directors']);

    const outline = stage(config, 'demo', 'outline');
    expect(builtinOf(outline)).toEqual({ builtin: 'outline', delay: 2_000 });
    expect(outline.retries).toBe(1);
    expect(outline.gate).toMatchObject({ required: false, approvers: ['editors'], auto_approve_after: 60_000 });

    const storyboard = stage(config, 'demo', 'storyboard');
    expect(storyboard.gate).toMatchObject({ required: true, min_approvals: 2, timeout: 24 * 3_600_000, on_timeout: 'reject', remind_before: [4 * 3_600_000, 3_600_000] });
    expect(stage(config, 'demo', 'assets').gate).toMatchObject({ timeout: 48 * 3_600_000, on_timeout: 'fail' });
    expect(stage(config, 'demo', 'render').gate?.auto_approve_after).toBe(120_000);
  });

  it('examples/deploy.yaml loads, with command stages and their timeouts in milliseconds', () => {
    const config = loadConfig(path.join(ROOT, 'examples', 'deploy.yaml'));
    expect(Object.keys(config.pipelines).sort()).toEqual(['release', 'story']);
    expect(config.limits).toEqual({ jobs_per_user_per_minute: 5, max_concurrent_jobs: 2, max_brief_chars: 4_000 });

    const build = stage(config, 'release', 'build');
    expect(commandOf(build)).toEqual({ command: ['sh', 'examples/deploy/build.sh'], env: { DEMO_STEP_SECONDS: '1' }, timeout: 300_000 });
    expect(build.retries).toBe(1);
    expect(build.retry_backoff).toBe(3_000);
    expect(stage(config, 'release', 'smoke').gate).toMatchObject({ required: true, approvers: ['sre'], min_approvals: 2, timeout: 4 * 3_600_000, remind_before: [3_600_000] });
    expect(stage(config, 'release', 'production').gate).toMatchObject({ required: false, auto_approve_after: 15 * 60_000 });
    expect(config.pipelines.release!.params.version).toEqual({ description: 'version to release, e.g. 1.4.2', required: true });

    // A gate written with only its approvers gets the documented defaults.
    expect(stage(config, 'story', 'script').gate).toEqual({
      required: true,
      approvers: ['releasers', 'sre'],
      min_approvals: 1,
      allow_self_approval: false,
      on_timeout: 'reject',
      notify: 'mention',
      escalate_to: [],
    });
    expect(commandOf(stage(config, 'story', 'script')).timeout).toBe(60_000);
  });
});

describe('defaults and durations', () => {
  it('fills every default a minimal configuration leaves out', () => {
    const config = parseConfig(
      withStages(`      - id: build
        run: { command: [make] }
        gate: { approvers: [editors] }
`),
      FILE,
    );
    expect(config.limits).toEqual({ jobs_per_user_per_minute: 5, max_concurrent_jobs: 4, max_brief_chars: 4_000 });
    expect(config.console).toEqual({ enabled: true });
    expect(config.channels).toEqual({});
    expect(config.http).toEqual({ cors_origins: [], body_limit_bytes: 262_144 });
    expect(config.submitters).toBeUndefined();
    expect(config.pipelines.demo!.description).toBe('');
    expect(config.pipelines.demo!.params).toEqual({});

    const build = stage(config, 'demo', 'build');
    expect(build.retries).toBe(0);
    expect(build.retry_backoff).toBe(2_000);
    expect(commandOf(build)).toEqual({ command: ['make'], env: {}, timeout: 600_000 });
    expect(build.gate).toEqual({ required: true, approvers: ['editors'], min_approvals: 1, allow_self_approval: false, on_timeout: 'reject', notify: 'mention', escalate_to: [] });
  });

  it('an http stage gets a 60s timeout and no extra headers by default', () => {
    const config = parseConfig(withStages('      - id: hook\n        run: { http: { url: "https://example.com/hook" } }\n'), FILE);
    expect(httpOf(stage(config, 'demo', 'hook'))).toEqual({ url: 'https://example.com/hook', timeout: 60_000, headers: {} });
  });

  it('turns 500ms, 30s, 10m, 24h and 2d into milliseconds', () => {
    const config = parseConfig(
      withStages(`      - id: quick
        run: { builtin: outline, delay: 500ms }
        retry_backoff: 30s
        gate: { required: false, approvers: [editors], auto_approve_after: 10m }
      - id: slow
        run: { command: [make], timeout: 2d }
        gate: { approvers: [editors], timeout: 24h, remind_before: [10m, 30s] }
`),
      FILE,
    );
    const quick = stage(config, 'demo', 'quick');
    expect(builtinOf(quick).delay).toBe(500);
    expect(quick.retry_backoff).toBe(30_000);
    expect(quick.gate?.auto_approve_after).toBe(600_000);
    const slow = stage(config, 'demo', 'slow');
    expect(commandOf(slow).timeout).toBe(2 * 86_400_000);
    expect(slow.gate?.timeout).toBe(86_400_000);
    expect(slow.gate?.remind_before).toEqual([600_000, 30_000]);
  });

  it('anchors and aliases used for ordinary reuse still work', () => {
    const config = parseConfig(
      `${OPS}pipelines:
  demo:
    stages:
      - id: a
        run: { builtin: outline }
        gate: &editors_gate { approvers: [editors], timeout: 1h }
      - id: b
        run: { builtin: script }
        gate: *editors_gate
`,
      FILE,
    );
    expect(stage(config, 'demo', 'b').gate).toEqual(stage(config, 'demo', 'a').gate);
    expect(stage(config, 'demo', 'b').gate?.timeout).toBe(3_600_000);
  });
});

describe('mistakes are reported with file, line, path and what was expected', () => {
  it('a YAML syntax error gives file:line:col', () => {
    const message = configError(`${OPS}pipelines:
  demo:
    description: Build: then deploy
    stages: []
`);
    expect(message).toMatch(/^file\.yaml:5:\d+: /);
    expect(message).toMatch(/does not parse/);
  });

  it('an unclosed flow sequence gives file:line:col', () => {
    const message = configError(`operators:
  editors:
    console: [alice, bob
pipelines:
  demo: {}
`);
    expect(message).toMatch(/^file\.yaml:\d+:\d+: /);
    expect(message).toMatch(/does not parse/);
  });

  it('an unknown top-level key is reported on the line where the key is written', () => {
    expectProblem(
      `${OPS}pipeline:
  demo:
    stages: [{ id: a, run: { builtin: outline } }]
pipelines:
  demo:
    stages: [{ id: a, run: { builtin: outline } }]
`,
      { line: 3, path: 'pipeline', says: /unknown key/ },
    );
  });

  it('an unknown nested key, with its full dotted path', () => {
    expectProblem(
      withStages(`      - id: a
        run: { builtin: outline }
        gate:
          required: true
          aprovers: [editors]
`),
      { line: 10, path: 'pipelines.demo.stages[0].gate.aprovers', says: /unknown key.*check the spelling/ },
    );
  });

  it('a wrong type says what type was expected', () => {
    expectProblem(
      `${OPS}limits:
  max_concurrent_jobs: "four"
pipelines:
  demo:
    stages: [{ id: a, run: { builtin: outline } }]
`,
      { line: 4, path: 'limits.max_concurrent_jobs', says: /expected number/ },
    );
  });

  it('a bad duration in a gate timeout shows how durations are written', () => {
    expectProblem(
      withStages(`      - id: a
        run: { builtin: outline }
        gate:
          approvers: [editors]
          timeout: 10 minutes
`),
      { line: 10, path: 'pipelines.demo.stages[0].gate.timeout', says: /"10 minutes" is not a duration.*10m/ },
    );
  });

  it('a bad duration in a command stage timeout is reported as a bad duration, not as a malformed run', () => {
    expectProblem(
      withStages(`      - id: a
        run:
          command: [make]
          timeout: 10 minutes
`),
      { line: 9, path: 'pipelines.demo.stages[0].run.timeout', says: /"10 minutes" is not a duration.*10m/ },
    );
  });

  it('a gate naming an operator group that is not defined', () => {
    expectProblem(
      withStages(`      - id: a
        run: { builtin: outline }
        gate:
          approvers: [editors, reviewers]
`),
      { line: 9, path: 'pipelines.demo.stages[0].gate.approvers[1]', says: /unknown operator group "reviewers".*known: editors/ },
    );
  });

  it('two stages with the same id', () => {
    expectProblem(
      withStages(`      - id: build
        run: { builtin: outline }
      - id: build
        run: { builtin: script }
`),
      { line: 8, path: 'pipelines.demo.stages[1].id', says: /"build" is used twice/ },
    );
  });

  it('an optional gate without auto_approve_after', () => {
    expectProblem(
      withStages(`      - id: a
        run: { builtin: outline }
        gate:
          required: false
          approvers: [editors]
`),
      // The key is missing, so the gate itself is pointed at ("gate:" or its first key).
      { line: [8, 9], path: 'pipelines.demo.stages[0].gate.auto_approve_after', says: /optional gate.*needs auto_approve_after/ },
    );
  });

  it('a required gate with auto_approve_after', () => {
    expectProblem(
      withStages(`      - id: a
        run: { builtin: outline }
        gate:
          approvers: [editors]
          auto_approve_after: 30m
`),
      { line: 10, path: 'pipelines.demo.stages[0].gate.auto_approve_after', says: /only optional gates auto-approve/ },
    );
  });

  it('a stage run with none of builtin, command, http or external', () => {
    expectProblem(withStages('      - id: a\n        run: {}\n'), {
      line: 7,
      path: 'pipelines.demo.stages[0].run',
      says: /exactly one of \{ builtin: NAME \}, \{ command: \[\.\.\.\] \}, \{ http: \{ url \} \} or \{ external: \{ … \} \}/,
    });
  });

  it('a stage run with two of builtin, command and http', () => {
    expectProblem(withStages('      - id: a\n        run:\n          builtin: outline\n          command: [make]\n'), {
      line: [7, 8],
      path: 'pipelines.demo.stages[0].run',
      says: /exactly one of/,
    });
  });

  it('a key written twice is an error, not a silent override, and says where', () => {
    const message = configError(`${OPS}limits:
  max_concurrent_jobs: 2
  max_concurrent_jobs: 8
pipelines:
  demo:
    stages: [{ id: a, run: { builtin: outline } }]
`);
    expect(message).toMatch(/^file\.yaml:5:\d+: /);
    expect(message).toMatch(/unique|duplicate|twice/i);
  });

  it('an alias bomb (billion laughs) is refused quickly with a clear message', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const names = 'abcdefghij';
    for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]`);
    const bomb = `${lines.join('\n')}\npipelines:\n  demo:\n    stages: [{ id: a, run: { builtin: outline } }]\n    params: *j\n`;
    const started = performance.now();
    const message = configError(bomb);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(message).toMatch(/^file\.yaml/);
    expect(message).toMatch(/alias/i);
  });

  it('an empty file says pipelines are missing', () => {
    for (const text of ['', '# only a comment\n']) {
      const message = configError(text);
      expect(message).toMatch(/^file\.yaml/);
      expect(message).toMatch(/pipelines/);
    }
  });

  it('pipelines: {} asks for at least one pipeline', () => {
    expectProblem('pipelines: {}\n', { line: 1, path: 'pipelines', says: /define at least one pipeline/ });
  });

  it('several problems are all listed, one per line', () => {
    const message = configError(
      withStages(`      - id: a
        run: { builtin: outline }
        retries: many
      - id: b
        run: { builtin: script }
        retires: 2
`),
    );
    expect(message).toMatch(/\n  file\.yaml:8: pipelines\.demo\.stages\[0\]\.retries: .*expected number/);
    expect(message).toMatch(/\n  file\.yaml:11: pipelines\.demo\.stages\[1\]\.retires: unknown key/);
  });

  it('a missing file says how to fix it (SIGNOFF_CONFIG)', () => {
    const dir = tempDir();
    const file = path.join(dir, 'nope', 'signoff.yaml');
    let caught: unknown;
    try {
      loadConfig(file);
    } catch (err) {
      caught = err;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toContain(file);
    expect((caught as ConfigError).message).toMatch(/cannot read/);
    expect((caught as ConfigError).message).toContain('SIGNOFF_CONFIG');
  });

  it('loadConfig reports problems under the path it was given', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, withStages('      - id: a\n        run: { builtin: outline }\n        retries: -1\n'));
    try {
      expect(() => loadConfig(file)).toThrow(ConfigError);
      expect(() => loadConfig(file)).toThrow(`${file}:8: pipelines.demo.stages[0].retries:`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('external stages', () => {
  it('parse with their defaults: a 6h timeout, no heartbeat limit, notification headers empty', () => {
    const config = parseConfig(withStages('      - id: ci\n        run: { external: { notify: { url: "https://ci.example/hooks/signoff" }, heartbeat: 10m } }\n'), 'file.yaml');
    const run = config.pipelines.demo!.stages[0]!.run as Extract<StageDef['run'], { external: unknown }>;
    expect(run.external).toEqual({ notify: { url: 'https://ci.example/hooks/signoff', headers: {} }, timeout: 6 * 3_600_000, heartbeat: 600_000 });
    const handoff = parseConfig(withStages('      - id: ci\n        run: { command: [sh, start-ci.sh], external: { timeout: 2h, heartbeat: 5m } }\n'), 'file.yaml');
    expect(handoff.pipelines.demo!.stages[0]!.run).toMatchObject({ command: ['sh', 'start-ci.sh'], external: { timeout: 7_200_000, heartbeat: 300_000 } });
  });

  it('refuse a notification URL that is not http(s), or an unknown key', () => {
    expect(() => parseConfig(withStages('      - id: ci\n        run: { external: { notify: { url: "ftp://ci.example/x" } } }\n'), 'file.yaml')).toThrow(ConfigError);
    expect(() => parseConfig(withStages('      - id: ci\n        run: { external: { timeout: 1h, hearbeat: 5m } }\n'), 'file.yaml')).toThrow(ConfigError);
  });
});
