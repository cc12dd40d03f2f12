/**
 * The command line: which command, and the flags that say where the config and the data live.
 * Parsing is pure so that every typo gets a clear answer before anything starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_DIR } from '../config/env.js';

/** The commands `signoff` knows. */
export type Command = 'start' | 'worker' | 'init' | 'check-config' | 'discord-register' | 'help' | 'version';

/** What the command line asked for. */
export interface Invocation {
  command: Command;
  /** `signoff init [dir]`: where to write the starter files. */
  dir?: string;
  config?: string;
  dataDir?: string;
}

/** The usage text of `signoff --help`. */
export const USAGE = `usage: signoff [command] [options]

commands:
  start              run signoff (the default when no command is given)
  worker             only run stages, taken from the PostgreSQL queue (SIGNOFF_DATABASE_URL;
                     pools from SIGNOFF_POOLS, default "default")
  init [dir]         write a starter signoff.yaml and .env.example into dir (default: here)
  check-config       validate the configuration and exit
  discord-register   register the /signoff slash command with Discord
  run …              report a stage run's progress or outcome from anywhere (signoff run --help)
  migrate --to URL   copy this data directory's SQLite store into an empty PostgreSQL database
  help               this text (also --help, -h)
  version            the installed version (also --version, -v)

options:
  -c, --config FILE     the configuration; else $SIGNOFF_CONFIG, else ./signoff.yaml,
                        else the bundled demo pipeline
  -d, --data-dir DIR    the SQLite database, artifacts and tokens; else $SIGNOFF_DATA_DIR,
                        else ./data

Everything else (port, tokens for Slack and Discord) comes from the environment or from a
.env file in the current directory: see the .env.example that \`signoff init\` writes.
`;

const COMMANDS = new Set<string>(['start', 'worker', 'init', 'check-config', 'discord-register', 'help', 'version']);
const ALIASES: Record<string, Command> = { '--help': 'help', '-h': 'help', '--version': 'version', '-v': 'version' };

/** Parses `argv` (without node and the script); an Error's message says what was wrong. */
export function parseArgs(argv: string[]): Invocation | Error {
  const out: Invocation = { command: 'start' };
  let command: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '-c' || flag === '--config' || flag === '-d' || flag === '--data-dir') {
      const value = inline ?? argv[++i];
      if (!value) return new Error(`${flag} needs a value, e.g. ${flag.includes('c') ? '--config ./signoff.yaml' : '--data-dir ./data'}.`);
      if (flag === '-c' || flag === '--config') out.config = value;
      else out.dataDir = value;
    } else if (ALIASES[arg]) {
      command ??= ALIASES[arg];
    } else if (arg.startsWith('-')) {
      return new Error(`unknown option "${arg}"; see "signoff --help".`);
    } else if (command === undefined) {
      if (!COMMANDS.has(arg)) return new Error(`unknown command "${arg}"; use "start", "worker", "init", "check-config", "discord-register", "run" or "migrate" (see "signoff --help").`);
      command = arg;
    } else positional.push(arg);
  }
  out.command = (command ?? 'start') as Command;
  if (out.command === 'init' && positional.length <= 1) {
    if (positional[0]) out.dir = positional[0];
  } else if (positional.length > 0) return new Error(`"${out.command}" takes no argument "${positional[0]}"; see "signoff --help".`);
  return out;
}

/** The version of the installed package. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
}
