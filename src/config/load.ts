/**
 * Reads and checks the configuration file. Any problem stops start-up with a message naming the
 * file, the line, and the dotted path of the bad key with what was expected.
 */
import fs from 'node:fs';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';
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
    const line = yamlError.linePos?.[0] ?? lines.linePos(yamlError.pos[0]);
    const where = line ? `${file}:${line.line}:${line.col}` : file;
    throw new ConfigError(`${where}: the YAML does not parse: ${yamlError.message.split('\n')[0]}`, file);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message} (too many alias references)`, file);
  }
  if (data === null || data === undefined || (typeof data === 'object' && Object.keys(data).length === 0))
    throw new ConfigError(`${file}: the file is empty; define at least one pipeline under "pipelines:" (see conf/signoff.yaml).`, file);
  const result = configSchema.safeParse(data);
  if (result.success) return result.data;
  const lineOf = (path: PropertyKey[]) => lineOfPath(doc, lines, path);
  const problems = result.error.issues.map((issue) => describe(issue, file, lineOf));
  throw new ConfigError(`${file}: the configuration is not valid:\n${problems.join('\n')}`, file);
}

/** The line of the key (or sequence item) at `path`, or of its nearest existing parent. */
function lineOfPath(doc: Document, lines: LineCounter, path: PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let line = isNode(node) && node.range ? lines.linePos(node.range[0]).line : undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) break;
      if (isNode(pair.key) && pair.key.range) line = lines.linePos(pair.key.range[0]).line;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key];
      if (!isNode(item)) break;
      if (item.range) line = lines.linePos(item.range[0]).line;
      node = item;
    } else break;
  }
  return line;
}

function describe(issue: z.core.$ZodIssue, file: string, lineOf: (path: PropertyKey[]) => number | undefined, prefix: PropertyKey[] = []): string {
  const path = [...prefix, ...issue.path];
  const at = (p: PropertyKey[]) => {
    const line = lineOf(p);
    return line === undefined ? file : `${file}:${line}`;
  };
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => `  ${at([...path, key])}: ${dotted([...path, key])}: unknown key (check the spelling; allowed keys are in conf/signoff.yaml)`)
      .join('\n');
  }
  if (issue.code === 'invalid_union') {
    // Report the problems of the branch the user evidently meant (the one whose own keys fit),
    // rather than "none of the alternatives matched".
    const fits = issue.errors.filter((branch) => !branch.some((i) => i.path.length === 0 || (i.path.length === 1 && i.code === 'invalid_type' && /undefined/.test(i.message))));
    if (fits.length === 1) return fits[0]!.map((i) => describe(i, file, lineOf, path)).join('\n');
  }
  return `  ${at(path)}: ${dotted(path) || '(top level)'}: ${issue.message}`;
}

function dotted(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}
