/**
 * `switchyard admin-token`: mints a new unscoped admin token in the LMDB store of a data directory, for a
 * lost first token or another administrator. It runs on the machine that holds the data, which is what
 * authorises it; the server may be running (LMDB lets several processes write). The ledger records it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dataFailure, mintAdminToken, StartupError } from '@switchyard/server';
import { FlagStore, LmdbAdapter } from '@switchyard/store';

/** Mints the token and returns its value; refuses a directory holding no store rather than create one. */
export async function mintLocalAdminToken(data: string, name: string): Promise<string> {
  const dir = resolve(data);
  if (!existsSync(join(dir, 'data.mdb'))) {
    throw new StartupError(
      `no Switchyard data in ${dir}; give the --data directory of \`switchyard serve\` (default ./data)`,
    );
  }
  let store: FlagStore;
  try {
    store = new FlagStore(new LmdbAdapter({ path: dir }));
  } catch (error) {
    throw dataFailure(dir, error);
  }
  try {
    return await mintAdminToken(store, name);
  } finally {
    await store.close();
  }
}
