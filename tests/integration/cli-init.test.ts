/** `signoff init`: real files in a fresh directory, read back by the real config loader. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_STAGE_EXAMPLE, init } from '../../src/cli/init.js';
import { loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/fixtures.js';

describe('signoff init', () => {
  it('writes a signoff.yaml the loader accepts (the demo pipeline) and a .env.example, and says what next', () => {
    const dir = path.join(tempDir('signoff-init-'), 'new', 'team');
    const result = init(dir);
    expect(result.written).toEqual(['signoff.yaml', '.env.example']);
    const config = loadConfig(path.join(dir, 'signoff.yaml'));
    expect(Object.keys(config.pipelines)).toEqual(['demo']);
    expect(config.pipelines.demo!.stages.map((s) => s.id)).toEqual(['outline', 'script', 'storyboard', 'assets', 'audio', 'render']);
    const env = fs.readFileSync(path.join(dir, '.env.example'), 'utf8');
    expect(env).toMatch(/^SLACK_BOT_TOKEN=$/m);
    expect(env).toMatch(/^DISCORD_TOKEN=$/m);
    expect(result.text).toContain(`cd ${dir}`);
    expect(result.text).toMatch(/signoff start/);
  });

  it('has a commented command-stage pipeline that works once uncommented', () => {
    const dir = tempDir('signoff-init-');
    init(dir);
    const file = path.join(dir, 'signoff.yaml');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain(COMMAND_STAGE_EXAMPLE);
    // Remove "# " from "release:" down, as the comment tells the reader to.
    const at = text.indexOf('  # release:');
    fs.writeFileSync(file, text.slice(0, at) + text.slice(at).replace(/^ {2}# /gm, '  '));
    const release = loadConfig(file).pipelines.release!;
    expect(release.stages.map((s) => [s.id, 'command' in s.run])).toEqual([
      ['build', true],
      ['deploy', true],
    ]);
    expect(release.params.version?.required).toBe(true);
  });

  it('never overwrites: a second init keeps the edited files and says so', () => {
    const dir = tempDir('signoff-init-');
    init(dir);
    fs.writeFileSync(path.join(dir, 'signoff.yaml'), '# mine\n');
    const again = init(dir);
    expect(again.written).toEqual([]);
    expect(again.kept).toEqual(['signoff.yaml', '.env.example']);
    expect(again.text).toMatch(/kept .*signoff\.yaml \(it already exists; nothing written\)/);
    expect(fs.readFileSync(path.join(dir, 'signoff.yaml'), 'utf8')).toBe('# mine\n');
  });
});
