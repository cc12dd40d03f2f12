#!/usr/bin/env node
// The installed command: runs the compiled composition root. The package ships dist/; a clone
// makes it with `npm run build`.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!fs.existsSync(main)) {
  process.stderr.write(`signoff: ${fileURLToPath(main)} is missing; run \`npm run build\` in the repository first.\n`);
  process.exit(2);
}
await import(main.href);
