/**
 * The `/signoff` command grammar shared by every chat surface: what people type, with the
 * mistakes they make (typos, missing arguments, smart quotes, pasted control characters), and
 * a property test that arbitrary input never throws and valid submits round-trip exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { helpText, parseCommand, USAGE, type Command, type CommandName } from '../../src/bot/commands/parse.js';
import { sanitize } from '../../src/bot/commands/tokenize.js';

function ok(text: string): Command {
  const result = parseCommand(text);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(text)} to parse, got: ${result.message}`);
  return result.command;
}

function error(text: string): string {
  const result = parseCommand(text);
  if (result.ok) throw new Error(`expected ${JSON.stringify(text)} to fail, got ${JSON.stringify(result.command)}`);
  return result.message;
}

describe('parseCommand: every subcommand, with and without /signoff', () => {
  const cases: Array<[string, Command]> = [
    ['submit demo A film about bees', { name: 'submit', pipeline: 'demo', params: {}, brief: 'A film about bees' }],
    ['submit', { name: 'submit-form' }],
    ['status 12', { name: 'status', job: 12 }],
    ['retry 3', { name: 'retry', job: 3 }],
    ['audit 7', { name: 'audit', job: 7 }],
    ['cancel 4', { name: 'cancel', job: 4 }],
    ['cancel 4 not needed any more', { name: 'cancel', job: 4, reason: 'not needed any more' }],
    ['approve 5 script', { name: 'approve', job: 5, stage: 'script' }],
    ['hold 5 outline', { name: 'hold', job: 5, stage: 'outline' }],
    ['reject 5 script Too long, cut it', { name: 'reject', job: 5, stage: 'script', reason: 'Too long, cut it' }],
    ['list', { name: 'list' }],
    ['list running', { name: 'list', state: 'running' }],
    ['pipelines', { name: 'pipelines' }],
    ['help', { name: 'help' }],
    ['help submit', { name: 'help', topic: 'submit' }],
    ['', { name: 'help' }],
  ];
  for (const [text, command] of cases) {
    it(`"${text}"`, () => {
      expect(ok(text)).toEqual(command);
      expect(ok(`/signoff ${text}`)).toEqual(command);
      expect(ok(`  /signoff   ${text}  `)).toEqual(command);
    });
  }

  it('treats /signoff alone and whitespace alone as help', () => {
    expect(ok('/signoff')).toEqual({ name: 'help' });
    expect(ok(' \n\t ')).toEqual({ name: 'help' });
  });

  it('accepts subcommand names, pipelines and stages in any case; /signoff too', () => {
    expect(ok('STATUS 1')).toEqual({ name: 'status', job: 1 });
    expect(ok('/SignOff Approve 2 Script')).toEqual({ name: 'approve', job: 2, stage: 'script' });
    expect(ok('Submit Demo hello')).toEqual({ name: 'submit', pipeline: 'demo', params: {}, brief: 'hello' });
    expect(ok('HELP Submit')).toEqual({ name: 'help', topic: 'submit' });
  });

  it('takes job ids with a # prefix', () => {
    expect(ok('status #12')).toEqual({ name: 'status', job: 12 });
    expect(ok('reject #3 render Colours are off')).toEqual({ name: 'reject', job: 3, stage: 'render', reason: 'Colours are off' });
  });

  it('accepts every list state, waiting and other spellings', () => {
    for (const state of ['queued', 'running', 'awaiting_approval', 'succeeded', 'failed', 'rejected', 'cancelled'] as const) {
      expect(ok(`list ${state}`)).toEqual({ name: 'list', state });
    }
    expect(ok('list waiting')).toEqual({ name: 'list', state: 'awaiting_approval' });
    expect(ok('list Awaiting-Approval')).toEqual({ name: 'list', state: 'awaiting_approval' });
    expect(ok('list canceled')).toEqual({ name: 'list', state: 'cancelled' });
  });

  it('does not treat /signoff glued to a word as the prefix', () => {
    expect(error('/signoffstatus 1')).toMatch(/^Unknown command "\/signoffstatus"/);
  });
});

describe('submit: params, quoting and the brief', () => {
  it('reads key=value params before the brief, quoted values included', () => {
    expect(ok('submit release version=1.4 title="Big news" env=prod Ship it')).toEqual({
      name: 'submit',
      pipeline: 'release',
      params: { version: '1.4', title: 'Big news', env: 'prod' },
      brief: 'Ship it',
    });
    expect(ok('submit r empty= x')).toEqual({ name: 'submit', pipeline: 'r', params: { empty: '' }, brief: 'x' });
    expect(ok('submit r a_b-9=1 x')).toMatchObject({ params: { 'a_b-9': '1' } });
  });

  it('keeps the brief as typed: inner whitespace, newlines, quotes and later key=value', () => {
    const brief = 'Line one\n\n  indented   "quoted" it\'s\tx=y\nlast';
    expect(ok(`submit demo   ${brief}  \n`)).toEqual({ name: 'submit', pipeline: 'demo', params: {}, brief });
    expect(ok('/signoff submit demo\nA film\nabout bees')).toMatchObject({ brief: 'A film\nabout bees' });
  });

  it('unwraps a brief that is one quoted string, so it can start with key=value', () => {
    expect(ok('submit demo "x=y is a plot"')).toEqual({ name: 'submit', pipeline: 'demo', params: {}, brief: 'x=y is a plot' });
    expect(ok('submit demo “x=y is a plot”')).toMatchObject({ params: {}, brief: 'x=y is a plot' });
    // Not one quoted string as a whole: kept verbatim, quotes and all.
    expect(ok('submit demo "Bees" – a short film')).toMatchObject({ brief: '"Bees" – a short film' });
  });

  it('without quotes, a leading key=value is a param', () => {
    expect(ok('submit demo x=y is a plot')).toEqual({ name: 'submit', pipeline: 'demo', params: { x: 'y' }, brief: 'is a plot' });
  });

  it('does not take upper-case or over-long keys as params', () => {
    expect(ok('submit demo Title=x hi')).toEqual({ name: 'submit', pipeline: 'demo', params: {}, brief: 'Title=x hi' });
    const long = `k${'a'.repeat(40)}=v rest`;
    expect(ok(`submit demo ${long}`)).toMatchObject({ params: {}, brief: long });
  });

  it('groups with every kind of quote', () => {
    const titleOf = (text: string): string | undefined => {
      const command = ok(`submit demo title=${text} brief`);
      return command.name === 'submit' ? command.params.title : undefined;
    };
    expect(titleOf('"Big news"')).toBe('Big news');
    expect(titleOf("'Big news'")).toBe('Big news');
    expect(titleOf('“Big news”')).toBe('Big news');
    expect(titleOf('“Big news“')).toBe('Big news');
    expect(titleOf('‘Big news’')).toBe('Big news');
    expect(titleOf('„Big news“')).toBe('Big news');
    expect(titleOf("'it's big'")).toBe("it's big");
    expect(titleOf('‘it’s big’')).toBe('it’s big');
  });

  it('reads backslash-escaped quotes inside quotes and keeps other backslashes', () => {
    expect(ok('submit demo t="say \\"hi\\"" b')).toMatchObject({ params: { t: 'say "hi"' } });
    expect(ok("submit demo t='a \\'b\\' \\\\' b")).toMatchObject({ params: { t: "a 'b' \\" } });
    expect(ok('submit demo path="C:\\dir\\file" b')).toMatchObject({ params: { path: 'C:\\dir\\file' } });
  });

  it('treats quotes inside words as characters', () => {
    expect(ok("submit demo it's a film about don’t")).toMatchObject({ params: {}, brief: "it's a film about don’t" });
    expect(ok('submit demo t=a"b c')).toMatchObject({ params: { t: 'a"b' }, brief: 'c' });
  });

  it('keeps an unbalanced quote in a brief or reason as typed', () => {
    expect(ok("submit demo 'Twas the night")).toMatchObject({ brief: "'Twas the night" });
    expect(ok('reject 1 script "too long')).toMatchObject({ reason: '"too long' });
  });

  it('unwraps a fully quoted reason', () => {
    expect(ok('reject 1 script "too long"')).toMatchObject({ reason: 'too long' });
    expect(ok("cancel 1 'wrong brief'")).toEqual({ name: 'cancel', job: 1, reason: 'wrong brief' });
  });
});

describe('errors name the problem and show the usage', () => {
  const usage = (name: CommandName): string => `Usage: ${USAGE[name]}`;

  it('submit with a pipeline but no brief', () => {
    for (const text of ['submit demo', 'submit demo title="x"', 'submit demo ""']) {
      const message = error(text);
      expect(message).toMatch(/brief is needed/);
      expect(message).toContain(usage('submit'));
    }
  });

  it('submit with something that is not a pipeline name', () => {
    const message = error('submit "A film about bees"');
    expect(message).toContain('"A film about bees" is not a pipeline name');
    expect(message).toContain('/signoff pipelines');
    expect(message).toContain(usage('submit'));
  });

  it('a parameter given twice', () => {
    const message = error('submit demo a=1 a=2 brief');
    expect(message).toContain('a is given twice');
    expect(message).toContain(usage('submit'));
  });

  it('bad and missing job ids, for every command that takes one', () => {
    for (const name of ['status', 'retry', 'audit', 'cancel', 'approve', 'hold', 'reject'] as const) {
      for (const bad of ['abc', '12a', '#', '0', '-3', '1.5', '99999999999999999999']) {
        const message = error(`${name} ${bad} script reason`);
        expect(message).toContain(`"${bad}" is not a job id; job ids are numbers like 12 (see /signoff list)`);
        expect(message).toContain(usage(name));
      }
      const missing = error(name);
      expect(missing).toContain(`${name} needs a job id`);
      expect(missing).toContain(usage(name));
    }
  });

  it('missing or bad stage', () => {
    for (const name of ['approve', 'hold', 'reject'] as const) {
      expect(error(`${name} 4`)).toContain(`${name} needs the stage`);
      expect(error(`${name} 4`)).toContain(usage(name));
      expect(error(`${name} 4 "not a stage" x`)).toContain('"not a stage" is not a stage id');
    }
  });

  it('a rejection without a reason', () => {
    for (const text of ['reject 4 script', 'reject 4 script   ', 'reject 4 script ""']) {
      const message = error(text);
      expect(message).toContain('A rejection needs a reason');
      expect(message).toContain(usage('reject'));
    }
  });

  it('a list state that does not exist', () => {
    const message = error('list done');
    expect(message).toContain('"done" is not a job state');
    expect(message).toContain('queued, running, awaiting_approval, succeeded, failed, rejected, cancelled');
    expect(message).toContain(usage('list'));
  });

  it('extra arguments where none are allowed', () => {
    const cases: Array<[string, CommandName, string]> = [
      ['pipelines foo', 'pipelines', 'foo'],
      ['status 12 13', 'status', '13'],
      ['retry 1 now', 'retry', 'now'],
      ['audit 1 2', 'audit', '2'],
      ['approve 1 script please', 'approve', 'please'],
      ['hold 1 script x', 'hold', 'x'],
      ['list running queued', 'list', 'queued'],
      ['help submit now', 'help', 'now'],
    ];
    for (const [text, name, extra] of cases) {
      const message = error(text);
      expect(message).toContain('Too many arguments');
      expect(message).toContain(`"${extra}"`);
      expect(message).toContain(usage(name));
    }
  });

  it('an unknown command lists the commands, and suggests the obvious typo', () => {
    const message = error('xyzzy 1');
    expect(message).toMatch(/^Unknown command "xyzzy"\./);
    expect(message).not.toContain('Did you mean');
    for (const name of Object.keys(USAGE)) expect(message).toContain(name);

    expect(error('sumbit demo x')).toContain('Did you mean submit?');
    expect(error('SUMBIT demo x')).toContain('Unknown command "SUMBIT". Did you mean submit?');
    expect(error('aprove 1 script')).toContain('Did you mean approve?');
    expect(error('lst')).toContain('Did you mean list?');
    expect(error('stauts 1')).toContain('Did you mean status?');
    expect(error('/deploy now')).not.toContain('Did you mean');
  });

  it('an unclosed quote says what to do, with the usage when the command is known', () => {
    const message = error('submit demo title="Big news Ship it');
    expect(message).toMatch(/^Unclosed quote: "Big news Ship it has no closing quote/);
    expect(message).toContain('Add one');
    expect(message).toContain('\\"');
    expect(message).toContain(usage('submit'));
    expect(error('status "12')).toContain(usage('status'));
    expect(error('“status 12')).toMatch(/^Unclosed quote/);
    // A closing quote must end the token: "a"b is not closed.
    expect(error('list "running"x')).toMatch(/^Unclosed quote/);
  });

  it('input over 20,000 characters is refused before any work', () => {
    expect(parseCommand(`submit demo ${'x'.repeat(20_000 - 12)}`).ok).toBe(true);
    const message = error(`submit demo ${'x'.repeat(20_000)}`);
    expect(message).toContain('limit is 20,000');
  });

  it('echoes at most a short excerpt of what was typed', () => {
    expect(error(`status ${'9x'.repeat(5000)}`).length).toBeLessThan(200);
    expect(error(`${'q'.repeat(5000)}`).length).toBeLessThan(300);
  });
});

describe('control characters and broken unicode', () => {
  it('removes C0 (except newline and tab), DEL and C1 from every value', () => {
    expect(ok('submit demo t="a\u0000b\u001B[31m" Brief\u0007 with\u007F bell\u0085\r\nline\ttab')).toEqual({
      name: 'submit',
      pipeline: 'demo',
      params: { t: 'ab[31m' },
      brief: 'Brief with bell\nline\ttab',
    });
    expect(ok('sta\u0000tus 1\u009B')).toEqual({ name: 'status', job: 1 });
    expect(ok('reject 1 script \u001Bbad\u0008')).toMatchObject({ reason: 'bad' });
  });

  it('replaces lone surrogates with U+FFFD and keeps pairs', () => {
    expect(ok('submit demo a\uD800b \uDC00 🐝')).toMatchObject({ brief: 'a\uFFFDb \uFFFD 🐝' });
    expect(sanitize('\uDBFF\uDFFF')).toBe('\uDBFF\uDFFF');
  });
});

describe('helpText', () => {
  it('lists every command with its usage and a one-line explanation', () => {
    const text = helpText();
    for (const usage of Object.values(USAGE)) expect(text).toContain(usage);
    expect(text.split('\n').filter((line) => line.startsWith('  /signoff ')).length).toBe(Object.keys(USAGE).length);
    expect(helpText('')).toBe(text);
  });

  it('explains submit in detail: params, quoting, the key=value escape', () => {
    const text = helpText('submit');
    expect(text).toContain(USAGE.submit);
    expect(text).toContain('title="Big news"');
    expect(text).toContain('"x=y is a plot"');
    expect(text).toContain('\\"');
    expect(helpText(' SUBMIT ')).toBe(text);
  });

  it('explains each other command, and answers an unknown topic with the list', () => {
    for (const name of Object.keys(USAGE) as CommandName[]) expect(helpText(name)).toContain(USAGE[name]);
    expect(helpText('list')).toContain('awaiting_approval');
    const unknown = helpText('lst');
    expect(unknown).toContain('There is no command "lst". Did you mean list?');
    expect(unknown).toContain(USAGE.submit);
  });

  it('is plain text: no markdown (the <…> in usage lines are placeholders, escaped by each surface)', () => {
    for (const topic of [undefined, ...Object.keys(USAGE)]) expect(helpText(topic)).not.toMatch(/[`*]|__|<\//);
  });
});

describe('properties', () => {
  const WELL_FORMED = /^(?:[^\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/;
  const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;

  /** Every string inside a command, to check they are all clean. */
  function strings(command: Command): string[] {
    return Object.values(command).flatMap((v) => (typeof v === 'string' ? [v] : typeof v === 'object' ? Object.entries(v as object).flat() : []));
  }

  it('never throws; returns a command with clean values or a non-empty, well-formed message', () => {
    const piece = fc.oneof(
      fc.constantFrom('"', "'", '“', '”', '‘', '’', '„', '\\', ' ', '\n', '\t', '\r', '=', '#', '/signoff', 'submit', 'status', 'reject', 'approve', 'list', 'cancel', 'help', 'demo', 'k=', '12', 'SUMBIT'),
      fc.constantFrom('\u0000', '\u001B', '\u007F', '\u0085', '\uD800', '\uDC00', '\uFEFF', '\u00A0', '🐝'),
      fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
    );
    const input = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(input, (text) => {
        const result = parseCommand(text);
        if (result.ok) {
          for (const value of strings(result.command)) {
            expect(value).toMatch(WELL_FORMED);
            expect(value).not.toMatch(CONTROL);
          }
          if ('job' in result.command) expect(Number.isSafeInteger(result.command.job) && result.command.job > 0).toBe(true);
        } else {
          expect(result.message.trim()).not.toBe('');
          expect(result.message).toMatch(WELL_FORMED);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('valid submit commands parse back to exactly their parts', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,39}$/);
    const clean = (s: string): boolean => sanitize(s) === s;
    const OPENERS = '"\'“”„‘’';
    const startsQuoted = (s: string): boolean => OPENERS.includes(s[0] ?? '');
    // Quotes, backslashes and spaces are mixed in on purpose: they are what escaping must get right.
    const tricky = fc.constantFrom('\\', '"', "'", '“', '”', '‘', '’', '„', ' ', '\n', '=', '\\"');
    const value = fc
      .array(fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }), tricky), { maxLength: 6 })
      .map((parts) => parts.join(''))
      .filter(clean);
    // A value is written bare when it can be, otherwise quoted with every quote and backslash escaped.
    const quotes = fc.constantFrom(['"', '"'], ["'", "'"], ['“', '”'], ['‘', '’']);
    const written = fc.tuple(value, quotes, fc.boolean()).map(([v, [open, close], preferBare]) => {
      const bare = preferBare && v !== '' && !/\s/.test(v) && !startsQuoted(v);
      return { v, text: bare ? v : `${open}${v.replace(/[\\"'“”„‘’]/g, '\\$&')}${close}` };
    });
    const space = fc.constantFrom(' ', '  ', '\t', '\n', ' \n ');
    const brief = fc
      .array(fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), fc.constantFrom(' ', '\n', '\t', '  ', '"', "'", '“', 'x=y', '\\')), { minLength: 1, maxLength: 12 })
      .map((parts) => parts.join(''))
      .filter((b) => {
        const t = b.trim();
        return clean(b) && t !== '' && !startsQuoted(t) && !/^[a-z][a-z0-9_-]{0,39}=/.test(t);
      });
    const params = fc.uniqueArray(fc.tuple(name, written), { selector: ([key]) => key, maxLength: 5 });
    fc.assert(
      fc.property(fc.constantFrom('', '/signoff ', '/SIGNOFF\n'), fc.constantFrom('submit', 'SUBMIT', 'Submit'), name, params, brief, space, (prefix, verb, pipeline, ps, b, sp) => {
        const text = `${prefix}${verb}${sp}${pipeline}${sp}${ps.map(([k, w]) => `${k}=${w.text}${sp}`).join('')}${b}`;
        expect(parseCommand(text)).toEqual({
          ok: true,
          command: { name: 'submit', pipeline, params: Object.fromEntries(ps.map(([k, w]) => [k, w.v])), brief: b.trim() },
        });
      }),
      { numRuns: 2000 },
    );
  });
});
