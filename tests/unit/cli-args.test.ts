/** The command line and where signoff looks for its config and data: plain values in, plain values out. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import { configPlace, dataDirPlace } from '../../src/config/places.js';
import { tempDir } from '../helpers/fixtures.js';

describe('parseArgs', () => {
  it('starts when given no command, and reads both flag spellings', () => {
    expect(parseArgs([])).toEqual({ command: 'start' });
    expect(parseArgs(['-c', 'a.yaml', '--data-dir=/srv/d'])).toEqual({ command: 'start', config: 'a.yaml', dataDir: '/srv/d' });
    expect(parseArgs(['check-config', '--config', 'b.yaml'])).toEqual({ command: 'check-config', config: 'b.yaml' });
  });

  it('knows help, version and init with an optional directory', () => {
    expect(parseArgs(['--help'])).toEqual({ command: 'help' });
    expect(parseArgs(['-h'])).toEqual({ command: 'help' });
    expect(parseArgs(['-v'])).toEqual({ command: 'version' });
    expect(parseArgs(['init'])).toEqual({ command: 'init' });
    expect(parseArgs(['init', 'team-bot'])).toEqual({ command: 'init', dir: 'team-bot' });
  });

  it('answers a mistake with what to do, and never guesses', () => {
    expect(String(parseArgs(['strat']))).toMatch(/unknown command "strat".*"start"/);
    expect(String(parseArgs(['--port', '3000']))).toMatch(/unknown option "--port".*--help/);
    expect(String(parseArgs(['start', '--config']))).toMatch(/--config needs a value/);
    expect(String(parseArgs(['check-config', 'extra']))).toMatch(/takes no argument "extra"/);
    expect(String(parseArgs(['init', 'a', 'b']))).toMatch(/takes no argument "a"/);
  });
});

describe('where the config and the data directory come from', () => {
  const cwd = tempDir('signoff-places-');
  const bundled = '/pkg/conf/signoff.yaml';

  it('takes the flag over the environment, both relative to the current directory', () => {
    expect(configPlace({ flag: 'x.yaml', env: '/etc/y.yaml', cwd, bundled })).toEqual({ path: path.join(cwd, 'x.yaml'), from: '--config' });
    expect(configPlace({ env: 'y.yaml', cwd, bundled })).toEqual({ path: path.join(cwd, 'y.yaml'), from: 'SIGNOFF_CONFIG' });
    expect(dataDirPlace({ flag: 'd1', env: '/srv/d2', cwd })).toEqual({ path: path.join(cwd, 'd1'), from: '--data-dir' });
    expect(dataDirPlace({ env: '/srv/d2', cwd })).toEqual({ path: '/srv/d2', from: 'SIGNOFF_DATA_DIR' });
    expect(dataDirPlace({ cwd })).toEqual({ path: path.join(cwd, 'data'), from: './data in the current directory' });
  });

  it('uses ./signoff.yaml when there is one, else the bundled demo and says how to get one', () => {
    expect(configPlace({ cwd, bundled })).toMatchObject({ path: bundled, from: expect.stringMatching(/bundled demo.*signoff init/) });
    fs.writeFileSync(path.join(cwd, 'signoff.yaml'), 'pipelines: {}\n');
    expect(configPlace({ cwd, bundled })).toEqual({ path: path.join(cwd, 'signoff.yaml'), from: './signoff.yaml in the current directory' });
  });
});
