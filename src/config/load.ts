/**
 * Reads and checks the configuration file. Any problem stops start-up with a message naming the
 * file, the line, and the dotted path of the bad key with what was expected.
 */
import fs from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

/** The configuration could not be used; `message` lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the configuration file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Create it (see conf/signoff.yaml) or point SIGNOFF_CONFIG at it.`, file);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): Config {
  const lines = new LineCounter();
  // uniqueKeys: a key written twice is an error, not a silent override; maxAliasCount stops alias bombs.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0];
    const where = line ? `${file}:${line.line}:${line.col}` : file;
    throw new ConfigError(`${where}: the YAML does not parse: ${yamlError.message.split('\n')[0]}`, file);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message} (too many alias references)`, file);
  }
  const result = configSchema.safeParse(data ?? {});
  if (result.success) return result.data;
  const lineOf = (path: PropertyKey[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const problems = result.error.issues.map((issue) => describe(issue, file, lineOf));
  throw new ConfigError(`${file}: the configuration is not valid:\n${problems.join('\n')}`, file);
}

function describe(issue: z.core.$ZodIssue, file: string, lineOf: (path: PropertyKey[]) => number | undefined): string {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const at = [...path, key];
        return `  ${file}:${lineOf(at) ?? '?'}: ${dotted(at)}: unknown key (check the spelling; allowed keys are in conf/signoff.yaml)`;
      })
      .join('\n');
  }
  return `  ${file}:${lineOf(path) ?? '?'}: ${dotted(path) || '(top level)'}: ${issue.message}`;
}

function dotted(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}
