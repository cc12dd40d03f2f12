#!/usr/bin/env node
/**
 * Example command stage in Node: a drop-in replacement for the builtin `script` stage.
 *
 *   - { id: script, run: { command: ["node", "examples/stages/script.mjs"] } }
 *
 * signoff writes one JSON document on stdin, { job, stage, brief, params, inputs, redo_reason },
 * where inputs are the earlier stages' artifacts ({ stage, name, path, ... }). The stage writes
 * its files into $SIGNOFF_OUTPUT_DIR and prints `::progress:: …` lines (shown in chat); its last
 * other stdout line is the stage's summary. On failure: a message on stderr, non-zero exit. It keeps the builtin's markdown layout (`## Scene N:` and
 * `NARRATOR:` lines) so the builtin storyboard/audio stages can follow it.
 *
 * Try it by hand:
 *   mkdir -p /tmp/out && echo '{"brief":"Hi","inputs":[{"stage":"outline","name":"outline.md","path":"/path/to/outline.md"}]}' \
 *     | SIGNOFF_OUTPUT_DIR=/tmp/out node examples/stages/script.mjs
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

function fail(message) {
  process.stderr.write(`script: ${message}\n`);
  process.exit(1);
}

async function readStdin() {
  if (process.stdin.isTTY) fail('expected the job as JSON on stdin (this is meant to run as a signoff stage)');
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    fail(`stdin is not JSON: ${error.message}`);
  }
}

const outputDir = process.env.SIGNOFF_OUTPUT_DIR;
if (!outputDir) fail('SIGNOFF_OUTPUT_DIR is not set');
const job = await readStdin();

// The latest outline.md among the inputs, whichever stage made it.
const outline = (job.inputs ?? []).filter((a) => a.name === 'outline.md').at(-1);
if (!outline) fail('needs outline.md from an earlier stage; is there an outline stage before this one?');
const progress = (text) => console.log(`::progress:: ${text}`);
progress(`reading ${outline.stage}/outline.md`);

// "# Title", then "## 1. Heading" + a note line per section.
const lines = (await readFile(outline.path, 'utf8')).split(/\r?\n/);
const title = (lines.find((l) => l.startsWith('# ')) ?? '# Untitled').slice(2).trim();
const sections = [];
for (const line of lines) {
  if (line.startsWith('## ')) sections.push({ heading: line.slice(3).replace(/^\d+[.:]\s*/, ''), note: '' });
  else if (sections.length > 0 && line.trim() && !line.startsWith('>') && !sections.at(-1).note) sections.at(-1).note = line.trim();
}
if (sections.length === 0) fail('outline.md has no "## " sections');
progress(`writing ${sections.length} scenes`);

const reason = (job.redo_reason ?? '').replace(/\s+/g, ' ').trim();
const out = [`# Script: ${title}`, ''];
if (reason) out.push(`> Revised after review: ${reason}`, '');
sections.forEach(({ heading, note }, i) => {
  // A different voice from the builtin, so it is visible which one ran.
  const lead = heading.charAt(0).toLowerCase() + heading.slice(1);
  const hook = i === 0 ? `Welcome! ${heading}.` : `${i === sections.length - 1 ? 'Finally' : 'Now'}, ${lead}.`;
  out.push(`## Scene ${i + 1}: ${heading}`, '', `NARRATOR: ${hook} ${note}`, '');
});
await writeFile(join(outputDir, 'script.md'), out.join('\n'), 'utf8');
console.log(`Script: ${sections.length} scenes${reason ? ', revised after review' : ''} (examples/stages/script.mjs)`);
