/**
 * The first start of a store: the default environments (production protected) and an admin token,
 * which may read sensitive values.
 * `SWITCHYARD_ADMIN_TOKEN` chooses that token's value; otherwise one is made and shown once.
 */
import type { FlagStore } from '@switchyard/store';
import { newToken } from './access.js';

const SYSTEM = { actor: 'switchyard (first start)' };

export interface Bootstrapped {
  /** Environments created now. */
  environments: string[];
  /** The admin token created now, to show once; undefined when one existed. */
  adminToken?: string;
}

export async function bootstrap(store: FlagStore, adminToken?: string): Promise<Bootstrapped> {
  const created: string[] = [];
  if ((await store.flags.environments()).length === 0) {
    for (const name of ['development', 'staging', 'production']) {
      await store.flags.putEnvironment({ name, protected: name === 'production' }, SYSTEM);
      created.push(name);
    }
  }
  if (adminToken !== undefined) {
    const { value, record } = newToken('admin', 'admin', { readSensitive: true }, adminToken);
    if ((await store.tokens.get(record.id)) === undefined) await store.tokens.create(record, SYSTEM);
    return { environments: created, adminToken: value };
  }
  if ((await store.tokens.list({ limit: 1 })).length > 0) return { environments: created };
  const { value, record } = newToken('admin', 'admin', { readSensitive: true });
  await store.tokens.create(record, SYSTEM);
  return { environments: created, adminToken: value };
}
