/**
 * A child process that reads pages of an LMDB store, read-only, and says "ok": with a namespace, every
 * entry of its ledger; without, every entry of every database. LMDB trusts its pages: a damaged one
 * aborts or crashes the process that reads it, so the adapter reads them here first
 * (`LmdbAdapter.checkPages`), where a crash is a report and not an outage.
 *
 * Arguments: the store's directory, and the namespace if only its ledger is read.
 */
import { writeSync } from 'node:fs';
import { open } from 'lmdb';

const [path, namespace] = process.argv.slice(2);
const root = open({ path: path!, maxDbs: 8, readOnly: true });
let entries = 0;
// perf: binary keys and values, not decoded: every page (overflow pages too) is read, nothing else done.
const walk = (name: string, range: { start?: unknown[]; end?: unknown[] }) => {
  const db = root.openDB({ name, encoding: 'binary', keyEncoding: 'binary' });
  for (const { value } of db.getRange(range as object)) entries += value === undefined ? 0 : 1;
};
if (namespace === undefined) {
  for (const name of ['records', 'ledger', 'heads', 'revisions', 'counters', 'meta']) walk(name, {});
} else {
  const ledger = root.openDB({ name: 'ledger', encoding: 'binary' });
  for (const { value } of ledger.getRange({
    start: [namespace, 0],
    end: [namespace, Number.MAX_SAFE_INTEGER],
  })) {
    entries += value.length > 0 ? 1 : 0;
  }
}
writeSync(1, `ok ${entries}\n`);
await root.close();
