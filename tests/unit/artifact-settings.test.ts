/**
 * The artifact settings as an operator writes them: SIGNOFF_MAX_ARTIFACT_BYTES (a number of bytes,
 * 100 MiB when unset) and SIGNOFF_ARTIFACTS_DIR (made absolute from where signoff starts); a bad
 * cap stops start with a message naming the setting. And the one byte range a download answers.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { parseRange } from '../../src/http/send-artifact.js';

describe('artifact settings', () => {
  it('defaults to 100 MiB and no shared directory; takes both when set', () => {
    expect(readEnv({}, {}, '/srv')).toMatchObject({ maxArtifactBytes: 104_857_600 });
    expect(readEnv({}, {}, '/srv').artifactsDir).toBeUndefined();
    const set = readEnv({ SIGNOFF_MAX_ARTIFACT_BYTES: '2048', SIGNOFF_ARTIFACTS_DIR: 'shared/artifacts' }, {}, '/srv');
    expect(set).toMatchObject({ maxArtifactBytes: 2048, artifactsDir: path.resolve('/srv', 'shared/artifacts') });
  });

  it('refuses a cap that is not a positive whole number of bytes, naming the setting', () => {
    for (const bad of ['100MB', '0', '-5', '1.5'])
      expect(() => readEnv({ SIGNOFF_MAX_ARTIFACT_BYTES: bad }), bad).toThrow(/SIGNOFF_MAX_ARTIFACT_BYTES/);
  });
});

describe('Range headers', () => {
  it('answers one range, a suffix or an open end; several ranges or none mean the whole file', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=95-500', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
  });

  it('says unsatisfiable past the end, for an empty file, or for a backwards range', () => {
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-0', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=9-3', 100)).toBe('unsatisfiable');
  });
});
