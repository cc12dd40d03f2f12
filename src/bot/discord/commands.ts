/**
 * The `/signoff` slash command for Discord: its definition (typed subcommands and options), the
 * translation of the options Discord sends into the shared {@link Command}, and autocomplete.
 * Pure; registering and answering are the adapter's job.
 *
 * Discord sends typed options instead of a text line, but a command must mean the same on every
 * surface, so the structured parts (job ids, stage ids, pipeline names, parameters, states) go
 * through the shared parser and get its checks and messages. Free text (a brief, a reason) is
 * already one option, so it is kept exactly as typed instead of being re-tokenized.
 */
import {
  ApplicationIntegrationType, InteractionContextType, SlashCommandBuilder,
  type RESTPostAPIChatInputApplicationCommandsJSONBody, type SlashCommandIntegerOption, type SlashCommandStringOption, type SlashCommandSubcommandBuilder,
} from 'discord.js';
import { parseCommand, USAGE, type CommandName, type ParseResult } from '../commands/parse.js';
import { sanitize } from '../commands/tokenize.js';

/** What the adapter reads options with; discord.js's `interaction.options` fits it. */
export interface OptionReader {
  string(name: string): string | null;
  integer(name: string): number | null;
}

/** One autocomplete answer, as `interaction.respond` takes it. */
export interface Choice {
  name: string;
  value: string | number;
}

/** What autocomplete can offer: the pipelines, recent jobs, and the gated stages of the job typed so far. */
export interface AutocompleteData {
  pipelines: string[];
  jobs: { id: number; pipeline: string; state: string; brief: string }[];
  stages: string[];
}

const STATES = [
  ['queued', 'queued'], ['running', 'running'], ['awaiting approval', 'awaiting_approval'], ['succeeded', 'succeeded'],
  ['failed', 'failed'], ['rejected', 'rejected'], ['cancelled', 'cancelled'],
] as const;
const MAX_CHOICES = 25;
const CHOICE_NAME = 100;

/** Discord's range for integer options is ±2^53; job ids are positive. */
const job = (required = true) => (o: SlashCommandIntegerOption) =>
  o.setName('job').setDescription('The job id, a number like 12').setRequired(required).setMinValue(1).setMaxValue(Number.MAX_SAFE_INTEGER).setAutocomplete(true);
const stage = (o: SlashCommandStringOption) =>
  o.setName('stage').setDescription('The stage whose gate you mean, as /signoff status shows it').setRequired(true).setMaxLength(40).setAutocomplete(true);
const reason = (required: boolean, description: string) => (o: SlashCommandStringOption) =>
  o.setName('reason').setDescription(description).setRequired(required).setMaxLength(2000);
const sub = (name: CommandName, description: string, build: (s: SlashCommandSubcommandBuilder) => SlashCommandSubcommandBuilder = (s) => s) =>
  (s: SlashCommandSubcommandBuilder) => build(s.setName(name).setDescription(description));

/** `/signoff`'s description of the pipeline option: the names when they fit in Discord's 100 characters. */
function pipelineHelp(pipelines: string[]): string {
  const listed = `The pipeline to run: ${pipelines.join(', ')}`;
  return pipelines.length && listed.length <= 100 ? listed : 'The pipeline to run (see /signoff pipelines)';
}

/**
 * The `/signoff` command with every subcommand, for a bulk overwrite of the application's
 * commands. Pipelines are offered by autocomplete (so a config change needs no re-registering);
 * `pipelines` only names them in the option's description when they fit. Guild only: gates are
 * decided in a server channel where operators and roles mean something.
 */
export function signoffCommand(pipelines: string[]): RESTPostAPIChatInputApplicationCommandsJSONBody {
  return new SlashCommandBuilder()
    .setName('signoff')
    .setDescription('Run pipelines whose stages wait for a person to sign off')
    .setContexts(InteractionContextType.Guild)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addSubcommand(sub('submit', 'Start a job of a pipeline, with a brief saying what it should make', (s) => s
      .addStringOption((o) => o.setName('pipeline').setDescription(pipelineHelp(pipelines)).setRequired(true).setMaxLength(40).setAutocomplete(true))
      .addStringOption((o) => o.setName('brief').setDescription('What the job should make').setRequired(true).setMaxLength(4000))
      .addStringOption((o) => o.setName('params').setDescription('Parameters: key=value key2="value with spaces"').setMaxLength(1000))))
    .addSubcommand(sub('status', "Show a job's state, stages, gates and artifacts", (s) => s.addIntegerOption(job())))
    .addSubcommand(sub('list', 'List recent jobs, optionally only those in one state', (s) => s
      .addStringOption((o) => o.setName('state').setDescription('Only jobs in this state').addChoices(...STATES.map(([name, value]) => ({ name, value }))))))
    .addSubcommand(sub('cancel', 'Cancel a job that is queued, running or waiting for approval', (s) => s
      .addIntegerOption(job()).addStringOption(reason(false, 'Why (shown in the job thread)'))))
    .addSubcommand(sub('retry', 'Run a failed or rejected job again from the stage where it stopped', (s) => s.addIntegerOption(job())))
    .addSubcommand(sub('audit', "Show a job's history: every event, decision and refusal", (s) => s.addIntegerOption(job())))
    .addSubcommand(sub('approve', 'Approve the gate after a stage, so the job goes on', (s) => s.addIntegerOption(job()).addStringOption(stage)))
    .addSubcommand(sub('reject', 'Reject the gate after a stage; the reason goes to whoever redoes it', (s) => s
      .addIntegerOption(job()).addStringOption(stage).addStringOption(reason(true, 'What should change (handed to the stage when it is redone)'))))
    .addSubcommand(sub('hold', "Stop an optional gate's auto-approval until someone decides", (s) => s.addIntegerOption(job()).addStringOption(stage)))
    .addSubcommand(sub('pipelines', 'List the pipelines you can submit to'))
    .addSubcommand(sub('pending', 'List the gates waiting for your decision, oldest first'))
    .addSubcommand(sub('help', 'Show the commands, or more about one', (s) => s
      .addStringOption((o) => o.setName('topic').setDescription('A command to explain').addChoices(...(Object.keys(USAGE) as CommandName[]).map((name) => ({ name, value: name }))))))
    .toJSON();
}

const fail = (message: string): ParseResult => ({ ok: false, message });
const cleaned = (text: string | null) => sanitize(text ?? '').trim();
const shown = (text: string) => `"${text.length > 40 ? `${text.slice(0, 39)}…` : text}"`;

/**
 * An option meant as one word (pipeline, stage, topic), or an error: whitespace or quotes would
 * let it spill into the next argument when the parser reads the command line.
 */
function word(value: string | null, what: string, command: CommandName): string | ParseResult {
  const text = cleaned(value);
  return /[\s"'“”‘’„]/.test(text) ? fail(`${shown(text)} is not ${what}; it is one word.\nUsage: ${USAGE[command]}`) : text;
}

/** Whole numbers only; Discord already checks integer options, so this guards hand-built readers. */
const jobText = (n: number | null) => (n !== null && Number.isSafeInteger(n) ? String(n) : n === null ? '' : 'x');

/**
 * Turns a subcommand and its typed options into the shared {@link Command}. Problems come back
 * as `{ ok: false, message }` with the usage line, exactly as a typed command's would.
 */
export function commandFromOptions(subcommand: string, get: OptionReader): ParseResult {
  if (!Object.hasOwn(USAGE, subcommand)) return fail(`Unknown command ${shown(cleaned(subcommand))}. The commands are: ${Object.keys(USAGE).join(', ')}.`);
  const name = subcommand as CommandName;
  const jobId = jobText(get.integer('job'));
  switch (name) {
    case 'submit': {
      const pipeline = word(get.string('pipeline'), 'a pipeline name', name);
      if (typeof pipeline !== 'string') return pipeline;
      if (!pipeline) return fail(`submit needs a pipeline (see /signoff pipelines).\nUsage: ${USAGE.submit}`);
      // The sentinel brief "." shows whether the parser took every params token as key=value:
      // anything it did not would have become the start of the brief.
      const parsed = parseCommand(`submit ${pipeline} ${cleaned(get.string('params'))} .`);
      if (!parsed.ok || parsed.command.name !== 'submit') return parsed;
      if (parsed.command.brief !== '.') return fail(`${shown(parsed.command.brief.slice(0, -2))} is not key=value; give parameters like version=1.4 title="Big news".\nUsage: ${USAGE.submit}`);
      const brief = cleaned(get.string('brief'));
      if (!brief) return fail(`A brief is needed: say what the job should do, e.g. A two-minute film about bees.\nUsage: ${USAGE.submit}`);
      return { ok: true, command: { ...parsed.command, brief } };
    }
    case 'status':
    case 'retry':
    case 'audit':
      return parseCommand(`${name} ${jobId}`);
    case 'cancel': {
      const parsed = parseCommand(`cancel ${jobId}`);
      const why = cleaned(get.string('reason'));
      return parsed.ok && parsed.command.name === 'cancel' && why ? { ok: true, command: { ...parsed.command, reason: why } } : parsed;
    }
    case 'approve':
    case 'hold':
    case 'reject': {
      const stageId = word(get.string('stage'), 'a stage id', name);
      if (typeof stageId !== 'string') return stageId;
      const why = name === 'reject' ? cleaned(get.string('reason')) : '';
      // The reason is checked for presence by the parser and then kept as typed (no unquoting).
      const parsed = parseCommand(`${name} ${jobId} ${stageId}${why ? ' .' : ''}`);
      return parsed.ok && parsed.command.name === 'reject' ? { ok: true, command: { ...parsed.command, reason: why } } : parsed;
    }
    case 'list': {
      const state = word(get.string('state'), 'a job state', name);
      return typeof state === 'string' ? parseCommand(`list ${state}`) : state;
    }
    case 'pipelines':
    case 'pending':
      return parseCommand(name);
    case 'help': {
      const topic = word(get.string('topic'), 'a command', name);
      return typeof topic === 'string' ? parseCommand(`help ${topic}`) : topic;
    }
  }
}

/** A choice label on one line, within Discord's 100 characters. */
function label(text: string): string {
  const flat = sanitize(text).replace(/\s+/g, ' ').trim();
  return (flat.length > CHOICE_NAME ? `${flat.slice(0, CHOICE_NAME - 1)}…` : flat) || '-';
}

/** Names starting with what was typed first, then names containing it. */
function matching(names: string[], typed: string): string[] {
  const t = typed.trim().toLowerCase();
  const starts = names.filter((n) => n.toLowerCase().startsWith(t));
  return [...starts, ...names.filter((n) => !starts.includes(n) && n.toLowerCase().includes(t))];
}

/**
 * Autocomplete for the focused option: pipelines and stages by name, jobs by id (`12`, `#12`) or
 * by words of their pipeline, state or brief. At most 25 choices, names at most 100 characters.
 */
export function autocompleteChoices(focused: { name: string; value: string | number }, data: AutocompleteData): Choice[] {
  const typed = String(focused.value ?? '');
  switch (focused.name) {
    case 'pipeline':
      return matching(data.pipelines, typed).slice(0, MAX_CHOICES).map((p) => ({ name: label(p), value: p.slice(0, CHOICE_NAME) }));
    case 'stage':
      return matching(data.stages, typed).slice(0, MAX_CHOICES).map((s) => ({ name: label(s), value: s.slice(0, CHOICE_NAME) }));
    case 'job': {
      const t = typed.trim().toLowerCase().replace(/^#/, '');
      const jobs = /^\d*$/.test(t)
        ? data.jobs.filter((j) => String(j.id).startsWith(t))
        : data.jobs.filter((j) => `${j.pipeline} ${j.state} ${j.brief}`.toLowerCase().includes(t));
      return jobs.slice(0, MAX_CHOICES).map((j) => ({ name: label(`#${j.id} · ${j.pipeline} · ${j.state.replaceAll('_', ' ')} · ${j.brief}`), value: j.id }));
    }
    default:
      return [];
  }
}
