/**
 * Pools of stage workers: where a stage's runs go, and how a process says which pools it takes;
 * and which lease holders are known dead without waiting for their leases.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { deadOnThisHost } from '../../src/cluster/dead-holders.js';
import { parseArgs } from '../../src/cli/args.js';
import { readEnv } from '../../src/config/env.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { configuredPools, poolOf, queueName } from '../../src/stages/queue/pools.js';
import { OPERATORS } from '../helpers/fixtures.js';

const config = (stages: string) => parseConfig(`${OPERATORS}
pipelines:
  p:
    stages:
${stages}`, 'pools.yaml');

describe('stage pools', () => {
  it('sends a stage to the pool its run names, else to default; external stages are not queued', () => {
    const c = config(`      - { id: a, run: { builtin: outline } }
      - { id: b, run: { command: ["true"], pool: gpu } }
      - { id: c, run: { http: { url: "http://127.0.0.1:9/x" }, pool: net } }
      - { id: d, run: { external: { timeout: 1h } } }
      - { id: e, run: { command: ["true"], external: { timeout: 1h }, pool: gpu } }
`);
    expect(c.pipelines.p!.stages.map(poolOf)).toEqual(['default', 'gpu', 'net', undefined, 'gpu']);
    expect(configuredPools(c).sort()).toEqual(['default', 'gpu', 'net']);
    expect(queueName('gpu')).toBe('signoff-stage-gpu');
  });

  it('refuses a pool name that is not a name, and a pool on an external stage, naming the key', () => {
    expect(() => config('      - { id: a, run: { builtin: outline, pool: "GPU boxes" } }\n')).toThrow(ConfigError);
    expect(() => config('      - { id: a, run: { builtin: outline, pool: "GPU boxes" } }\n')).toThrow(/pool/);
    expect(() => config('      - { id: d, run: { external: { timeout: 1h }, pool: gpu } }\n')).toThrow(ConfigError);
  });

  it('reads SIGNOFF_WORKER, SIGNOFF_POOLS and SIGNOFF_WORKER_CONCURRENCY, with clear refusals', () => {
    expect(readEnv({}).worker).toEqual({ on: true, pools: ['default'], concurrency: 32 });
    expect(readEnv({ SIGNOFF_WORKER: 'off', SIGNOFF_POOLS: 'gpu, default,gpu', SIGNOFF_WORKER_CONCURRENCY: '4' }).worker).toEqual({ on: false, pools: ['gpu', 'default'], concurrency: 4 });
    expect(() => readEnv({ SIGNOFF_WORKER: 'no' })).toThrow(/SIGNOFF_WORKER is on or off/);
    expect(() => readEnv({ SIGNOFF_POOLS: 'gpu;cpu' })).toThrow(/SIGNOFF_POOLS is a comma-separated list of pool names/);
    expect(() => readEnv({ SIGNOFF_WORKER_CONCURRENCY: '0' })).toThrow(/SIGNOFF_WORKER_CONCURRENCY/);
  });

  it('knows the worker command', () => {
    expect(parseArgs(['worker', '-c', 'a.yaml'])).toEqual({ command: 'worker', config: 'a.yaml' });
    expect(String(parseArgs(['workr']))).toMatch(/unknown command "workr".*"worker"/);
  });
});

describe('lease holders known dead', () => {
  it('is a process of this host, by the default replica id, whose pid is gone; nothing else', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    expect(deadOnThisHost(`${os.hostname()}-${gone}`)).toBe(true);
    expect(deadOnThisHost(`${os.hostname()}-${process.pid}`)).toBe(false);
    expect(deadOnThisHost(`${os.hostname()}-1`)).toBe(false);
    expect(deadOnThisHost(`another-host-${gone}`)).toBe(false);
    expect(deadOnThisHost('replica-a')).toBe(false);
  });
});
