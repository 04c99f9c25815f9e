// Writes the JSON Schema of the policy document to spec/schema/ from its one source, the TypeBox
// definitions in @switchyard/core. With --check, fails instead when the published files have drifted.
import { readFileSync, writeFileSync } from 'node:fs';
import { FlagDocument, SegmentDocument } from '@switchyard/core';

const check = process.argv.includes('--check');
const outputs = [
  ['spec/schema/flag.schema.json', FlagDocument],
  ['spec/schema/segment.schema.json', SegmentDocument],
] as const;

let drifted = false;
for (const [path, schema] of outputs) {
  const text = `${JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema }, null, 2)}\n`;
  if (!check) {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
    continue;
  }
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {}
  if (current !== text) {
    console.error(
      `${path} is out of date with packages/core/src/document/schema.ts: run \`npm run spec:build\``,
    );
    drifted = true;
  }
}
if (drifted) process.exit(1);
