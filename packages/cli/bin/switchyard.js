#!/usr/bin/env node
// The `switchyard` command's launcher. It is committed (not built) so that the link npm makes to it when
// installing exists on a fresh clone before the build; it runs the built command in dist/, or says how
// to build it.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error(
    'switchyard: the command is not built yet; run `npm run build` (or `npm start`) at the repository root',
  );
  process.exit(2);
}
await import(main.href);
