/**
 * `signoff init [dir]`: a starting point outside the repository. Writes a `signoff.yaml` (the
 * bundled demo pipeline, plus a commented command-stage pipeline to make one's own) and a
 * `.env.example`, never overwriting a file, and says what to do next.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_DIR } from '../config/env.js';
import { CONFIG_FILE_NAME } from '../config/places.js';

const HEADER = `# signoff configuration, written by \`signoff init\`. \`signoff start\` in this directory finds
# it; from elsewhere pass --config or set SIGNOFF_CONFIG. Every key is checked at start and
# unknown keys are errors (\`signoff check-config\` checks without starting anything). Secrets
# (tokens, signing secrets) never go here: they come from the environment or .env.
#
# Durations: 500ms, 30s, 10m, 24h, 2d.
`;

/**
 * Appended under \`pipelines:\`; deleting the "# " after the two-space indent of each line gives
 * a working pipeline (a test checks that it does).
 */
export const COMMAND_STAGE_EXAMPLE = `
  # A pipeline of your own: a stage can run any program (no shell unless you call one). It
  # gets the job as JSON on stdin and in SIGNOFF_* variables (SIGNOFF_BRIEF, SIGNOFF_PARAMS,
  # SIGNOFF_OUTPUT_DIR…); every file it leaves in $SIGNOFF_OUTPUT_DIR becomes an artifact; exit
  # 0 is success and its last line of output is the summary. Paths are relative to the
  # directory signoff was started in. To try it, remove the "# " from "release:" down, then
  # type "/signoff submit release version=1.4.2 Ship the new search page" in the console.
  # release:
  #   description: "Build, then deploy once an editor signs off"
  #   params:
  #     version: { description: "the version to ship", required: true }
  #   stages:
  #     - id: build
  #       run:
  #         command: ["sh", "-c", "echo \\"$SIGNOFF_BRIEF\\" > \\"$SIGNOFF_OUTPUT_DIR/notes.txt\\"; echo built $SIGNOFF_PARAM_VERSION"]
  #         timeout: 5m
  #       retries: 1
  #       gate: { required: true, approvers: [editors], timeout: 24h, on_timeout: reject }
  #     - id: deploy
  #       run:
  #         command: ["sh", "-c", "echo deployed $SIGNOFF_PARAM_VERSION to $TARGET"]
  #         env: { TARGET: "production" }
  #         timeout: 10m
`;

/** The starter config: the bundled demo's settings under our own header, plus the example. */
export function starterConfig(): string {
  const bundled = fs.readFileSync(path.join(PACKAGE_DIR, 'conf', 'signoff.yaml'), 'utf8');
  // Its header speaks about the repository; everything from the first key on is the demo.
  const body = bundled.slice(bundled.search(/^[a-z]/m));
  return `${HEADER}\n${body.trimEnd()}\n${COMMAND_STAGE_EXAMPLE}`;
}

/** What `signoff init` did, for the person who ran it. */
export interface InitResult {
  dir: string;
  written: string[];
  kept: string[];
  text: string;
}

/** Writes the starter files into `dir` (created if needed); existing files are kept as they are. */
export function init(dir: string): InitResult {
  const target = path.resolve(dir);
  fs.mkdirSync(target, { recursive: true });
  const files: Array<[string, () => string]> = [
    [CONFIG_FILE_NAME, starterConfig],
    ['.env.example', () => fs.readFileSync(path.join(PACKAGE_DIR, '.env.example'), 'utf8')],
  ];
  const written: string[] = [];
  const kept: string[] = [];
  for (const [name, content] of files) {
    const file = path.join(target, name);
    // 'wx' fails when the file exists, so a second init never clobbers someone's edits.
    try {
      fs.writeFileSync(file, content(), { flag: 'wx' });
      written.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      kept.push(name);
    }
  }
  const cd = target === process.cwd() ? '' : `  cd ${/\s/.test(target) ? `'${target}'` : target}\n`;
  const lines = [
    ...written.map((n) => `wrote ${path.join(target, n)}`),
    ...kept.map((n) => `kept ${path.join(target, n)} (it already exists; nothing written)`),
    '',
    'Next steps:',
    `${cd}  signoff check-config          # checks ${CONFIG_FILE_NAME}`,
    '  signoff start                 # serves http://127.0.0.1:3000; open the Console URL it prints',
    '',
    `Then type "/signoff submit demo A two-minute film about bees" in the console. Edit ${CONFIG_FILE_NAME}`,
    'to name your people and pipelines; to connect Slack or Discord, copy .env.example to .env and',
    'fill in the tokens (see the README, sections "Slack" and "Discord").',
    '',
  ];
  return { dir: target, written, kept, text: lines.join('\n') };
}
