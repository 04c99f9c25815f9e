/**
 * A child process that reads every page of one namespace's ledger in an LMDB store, read-only, and says
 * "ok". LMDB trusts its pages: a damaged one aborts or crashes the process that reads it, so the adapter
 * reads them here first (`LmdbAdapter.checkLedger`), where a crash is a report and not an outage.
 *
 * Arguments: the store's directory, the namespace.
 */
import { writeSync } from 'node:fs';
import { open } from 'lmdb';

const [path, namespace] = process.argv.slice(2);
const root = open({ path: path!, maxDbs: 8, readOnly: true });
const ledger = root.openDB({ name: 'ledger', encoding: 'binary' });
let entries = 0;
for (const { value } of ledger.getRange({
  start: [namespace!, 0],
  end: [namespace!, Number.MAX_SAFE_INTEGER],
})) {
  // perf: binary values, not decoded: every page (overflow pages too) is read, nothing else is done.
  entries += value.length > 0 ? 1 : 0;
}
writeSync(1, `ok ${entries}\n`);
await root.close();
