/**
 * The `/signoff` command grammar, shared by the console, Slack and Discord so that a command
 * means the same everywhere. Pure: text in, a command or a plain-text error out. Errors carry no
 * markup (each surface escapes for its platform), say what was wrong and show the usage line.
 */
import { clip, sanitize, TokenCursor } from './tokenize.js';

/** The subcommands a person can type. */
export type CommandName = 'submit' | 'status' | 'list' | 'pending' | 'cancel' | 'retry' | 'audit' | 'pipelines' | 'help' | 'approve' | 'reject' | 'hold';

/** Job states `list` can filter on (the engine's job states). */
export type ListState = 'queued' | 'running' | 'awaiting_approval' | 'succeeded' | 'failed' | 'rejected' | 'cancelled';

/**
 * A parsed command. `submit-form` is a bare `submit`: surfaces open a form instead.
 * Commands of the same shape are still separate members (not `name: 'status' | 'retry' | …`)
 * so that `command.name === 'retry'` narrows to exactly one member in callers.
 */
export type Command =
  | { name: 'submit'; pipeline: string; params: Record<string, string>; brief: string }
  | { name: 'submit-form' }
  | { name: 'status'; job: number }
  | { name: 'retry'; job: number }
  | { name: 'audit'; job: number }
  | { name: 'cancel'; job: number; reason?: string }
  | { name: 'approve'; job: number; stage: string }
  | { name: 'hold'; job: number; stage: string }
  | { name: 'reject'; job: number; stage: string; reason: string }
  | { name: 'list'; state?: ListState }
  | { name: 'pipelines' }
  | { name: 'pending' }
  | { name: 'help'; topic?: string };

/** The outcome of {@link parseCommand}: a command, or a plain-text message for the person. */
export type ParseResult = { ok: true; command: Command } | { ok: false; message: string };

/** Longest input parsed. The engine has its own brief limit; this only bounds the parser's work. */
export const MAX_COMMAND_CHARS = 20_000;

/** One usage line per subcommand, as shown in help and in error messages. */
export const USAGE: Record<CommandName, string> = {
  submit: '/signoff submit <pipeline> [key=value …] <brief…>',
  status: '/signoff status <job>',
  list: '/signoff list [state]',
  pending: '/signoff pending',
  pipelines: '/signoff pipelines',
  approve: '/signoff approve <job> <stage>',
  reject: '/signoff reject <job> <stage> <reason…>',
  hold: '/signoff hold <job> <stage>',
  cancel: '/signoff cancel <job> [reason…]',
  retry: '/signoff retry <job>',
  audit: '/signoff audit <job>',
  help: '/signoff help [command]',
};

/** What each command does, one line each, in the order help lists them. */
const SUMMARY: Record<CommandName, string> = {
  submit: 'start a job of a pipeline, with a brief saying what it should make',
  status: "show a job's state, stages, gates and artifacts",
  list: 'list recent jobs, optionally only those in one state',
  pending: 'list the gates waiting for your decision, oldest first',
  pipelines: 'list the pipelines you can submit to',
  approve: 'approve the gate after a stage, so the job goes on',
  reject: 'reject the gate after a stage; the reason goes to whoever redoes it',
  hold: "stop an optional gate's auto-approval until someone decides",
  cancel: 'cancel a job that is queued, running or waiting for approval',
  retry: 'run a failed or rejected job again from the stage where it stopped',
  audit: "show a job's history: every event, decision and refusal",
  help: 'show this help, or more about one command',
};

const NAMES = Object.keys(USAGE) as CommandName[];
const STATES: readonly ListState[] = ['queued', 'running', 'awaiting_approval', 'succeeded', 'failed', 'rejected', 'cancelled'];
/** Words people use for a state; `waiting` is what a gate looks like from chat. */
const STATE_ALIASES: Readonly<Record<string, ListState>> = { waiting: 'awaiting_approval', awaiting: 'awaiting_approval', canceled: 'cancelled' };
/** Pipeline and stage ids, as the configuration schema allows them. */
const NAME_RE = /^[a-z][a-z0-9_-]{0,39}$/;
const JOB_RE = /^#?(\d{1,15})$/;

/** A usage error; thrown inside the parser and turned into `{ ok: false }` at the top. */
class UsageError extends Error {}

function fail(problem: string, command?: CommandName): never {
  throw new UsageError(command ? `${problem}\nUsage: ${USAGE[command]}` : problem);
}

/** Quotes user text in a message, cut short so a pasted novel does not come back in full. */
function shown(text: string): string {
  return `"${clip(text, 40)}"`;
}

/** A cursor whose unclosed quotes become usage errors for the command being parsed. */
class Reader extends TokenCursor {
  command?: CommandName;
  constructor(text: string) {
    super(text, (quote, excerpt) =>
      fail(`Unclosed quote: ${excerpt} has no closing quote. Add one (followed by a space or the end), or write \\${quote} for a quote inside quotes.`, this.command),
    );
  }

  /** Refuses anything left over. */
  end(): void {
    const extra = this.next();
    if (extra) fail(`Too many arguments: ${this.command} does not take ${shown(extra.value)}.`, this.command);
  }
}

/** Optimal-string-alignment distance: edits plus swaps of neighbours (`sumbit` → `submit` is 1). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The command `word` is an obvious typo of: closest by distance, unambiguous, and close enough. */
function closest(word: string): CommandName | undefined {
  if (word.length > 20) return undefined;
  const ranked = NAMES.map((name) => ({ name, d: distance(word, name) })).sort((x, y) => x.d - y.d);
  const [first, second] = ranked;
  const limit = word.length <= 3 ? 1 : 2;
  return first && first.d <= limit && first.d < (second?.d ?? Infinity) ? first.name : undefined;
}

function isCommandName(word: string): word is CommandName {
  return Object.hasOwn(USAGE, word);
}

function jobId(reader: Reader, command: CommandName): number {
  const token = reader.next();
  if (!token) fail(`${command} needs a job id, a number like 12 (see /signoff list).`, command);
  const digits = JOB_RE.exec(token.value)?.[1];
  const job = Number(digits);
  if (!digits || job < 1) fail(`${shown(token.value)} is not a job id; job ids are numbers like 12 (see /signoff list).`, command);
  return job;
}

function stageId(reader: Reader, command: CommandName, job: number): string {
  const token = reader.next();
  if (!token) fail(`${command} needs the stage whose gate you mean, e.g. /signoff ${command} ${job} script (see /signoff status ${job}).`, command);
  const stage = token.value.toLowerCase();
  if (!NAME_RE.test(stage)) fail(`${shown(token.value)} is not a stage id; stage ids are words like script (see /signoff status ${job}).`, command);
  return stage;
}

function submit(reader: Reader): Command {
  const token = reader.next();
  if (!token) return { name: 'submit-form' };
  const pipeline = token.value.toLowerCase();
  if (!NAME_RE.test(pipeline)) {
    fail(`${shown(token.value)} is not a pipeline name; pipeline names are words like demo (see /signoff pipelines).`, 'submit');
  }
  // Params are read into a Map: a duplicate is reported, not silently overwritten.
  const params = new Map<string, string>();
  for (let param = reader.param(); param; param = reader.param()) {
    const [key, value] = param;
    if (params.has(key)) fail(`The parameter ${key} is given twice; give it once.`, 'submit');
    params.set(key, value);
  }
  const brief = reader.rest();
  if (!brief) {
    fail(`A brief is needed: after the pipeline, say what the job should do, e.g. /signoff submit ${pipeline} A two-minute film about bees.`, 'submit');
  }
  return { name: 'submit', pipeline, params: Object.fromEntries(params), brief };
}

function parse(input: string): Command {
  const reader = new Reader(input.replace(/^\s*\/signoff(?=\s|$)/i, ''));
  const first = reader.next();
  if (!first) return { name: 'help' };
  const name = first.value.toLowerCase();
  if (!isCommandName(name)) {
    const guess = closest(name);
    fail(`Unknown command ${shown(first.value)}. ${guess ? `Did you mean ${guess}? ` : ''}The commands are: ${NAMES.join(', ')}. Type /signoff help for what each does.`);
  }
  reader.command = name;
  switch (name) {
    case 'submit':
      return submit(reader);
    case 'status':
    case 'retry':
    case 'audit': {
      const job = jobId(reader, name);
      reader.end();
      return { name, job };
    }
    case 'cancel': {
      const job = jobId(reader, name);
      const reason = reader.rest();
      return reason ? { name, job, reason } : { name, job };
    }
    case 'approve':
    case 'hold':
    case 'reject': {
      const job = jobId(reader, name);
      const stage = stageId(reader, name, job);
      if (name !== 'reject') {
        reader.end();
        return { name, job, stage };
      }
      const reason = reader.rest();
      if (!reason) fail(`A rejection needs a reason, so whoever redoes the stage knows what to change, e.g. /signoff reject ${job} ${stage} Too long, cut it to one minute.`, name);
      return { name, job, stage, reason };
    }
    case 'list': {
      const token = reader.next();
      reader.end();
      if (!token) return { name };
      const word = token.value.toLowerCase().replaceAll('-', '_');
      const state = STATE_ALIASES[word] ?? STATES.find((s) => s === word);
      if (!state) fail(`${shown(token.value)} is not a job state; use one of: ${STATES.join(', ')} (or waiting).`, name);
      return { name, state };
    }
    case 'pipelines':
    case 'pending':
      reader.end();
      return { name };
    case 'help': {
      const token = reader.next();
      reader.end();
      return token ? { name, topic: token.value.toLowerCase() } : { name };
    }
  }
}

/**
 * Parses what a person typed, with or without the leading `/signoff` (Slack sends only the
 * text after the command; the console's box includes it). Never throws.
 */
export function parseCommand(text: string): ParseResult {
  // Surfaces read this from untyped payloads; a missing field is an empty command, not a crash.
  const input = typeof text === 'string' ? text : '';
  if (input.length > MAX_COMMAND_CHARS) {
    return { ok: false, message: `That command is ${input.length.toLocaleString('en-US')} characters long; the limit is ${MAX_COMMAND_CHARS.toLocaleString('en-US')}. Shorten the brief.` };
  }
  try {
    return { ok: true, command: parse(sanitize(input)) };
  } catch (error) {
    if (error instanceof UsageError) return { ok: false, message: error.message };
    throw error;
  }
}

const SUBMIT_HELP = [
  USAGE.submit,
  `Starts a job of <pipeline> (see /signoff pipelines) with a brief: everything after the pipeline and its parameters, kept as typed, line breaks included.`,
  `Parameters: words like key=value right after the pipeline (keys are lower-case: letters, digits, - and _). Quote a value with spaces: title="Big news". Inside quotes, write \\" for a quote.`,
  `Quotes: "…", '…' and curly quotes all work. To start a brief with something that looks like key=value, quote the whole brief: /signoff submit demo "x=y is a plot".`,
  `Examples:`,
  `  /signoff submit demo A two-minute film about bees`,
  `  /signoff submit release version=1.4 title="Spring release" Ship the spring release to everyone`,
  `With no pipeline, /signoff submit opens a form where one is available.`,
].join('\n');

/** Help: every command with a one-line explanation, or more about one `topic` (a command). */
export function helpText(topic?: string): string {
  const word = topic?.trim().toLowerCase().replace(/^\/signoff\s+/, '');
  const all = [
    'signoff runs pipelines whose stages wait for a person to sign off. Commands:',
    ...NAMES.map((name) => `  ${USAGE[name]}  — ${SUMMARY[name]}`),
    'Job ids are numbers like 12 (#12 works too). Type /signoff help <command> for more, e.g. /signoff help submit.',
  ].join('\n');
  if (!word) return all;
  if (word === 'submit') return SUBMIT_HELP;
  if (isCommandName(word)) {
    const states = word === 'list' ? `\nStates: ${STATES.join(', ')} (waiting means awaiting_approval).` : '';
    const stage = ['approve', 'reject', 'hold'].includes(word) ? '\n<stage> is the stage whose output the gate reviews, as /signoff status <job> shows it.' : '';
    return `${USAGE[word]}\n${SUMMARY[word].replace(/^./, (c) => c.toUpperCase())}.${states}${stage}`;
  }
  const guess = closest(word);
  return `There is no command ${shown(word)}.${guess ? ` Did you mean ${guess}?` : ''}\n${all}`;
}
