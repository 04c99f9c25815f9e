/**
 * The first start of a store: the default environments (production protected) and an admin token,
 * which may read sensitive values.
 * `SWITCHYARD_ADMIN_TOKEN` chooses that token's value; otherwise one is made and shown once. The server
 * binds its port before bootstrapping, so a start that cannot listen creates no token it cannot show.
 * Later, `switchyard admin-token` mints another admin token on the machine that owns the data.
 */
import type { FlagStore } from '@switchyard/store';
import { StartupError } from '../startup-error.js';
import { newToken } from './access.js';

const SYSTEM = { actor: 'switchyard (first start)' };
const LOCAL = { actor: 'switchyard admin-token (on the machine holding the data)' };

/** Why a chosen admin token cannot be used, or undefined. The message never repeats the value. */
export function adminTokenProblem(value: string): string | undefined {
  try {
    newToken('admin', 'admin', {}, value);
    return undefined;
  } catch (error) {
    return `the admin token (SWITCHYARD_ADMIN_TOKEN) is malformed: ${(error as Error).message}`;
  }
}

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

/**
 * Mints a new unscoped admin token and returns its value, to show once. For a store that was started
 * before (it has environments); a store never started is refused rather than created here.
 */
export async function mintAdminToken(store: FlagStore, name: string): Promise<string> {
  if ((await store.flags.environments()).length === 0) {
    throw new StartupError(
      'the store holds no Switchyard data (no environments); start `switchyard serve` on it first, which prints the first admin token',
    );
  }
  const { value, record } = newToken(name, 'admin', { readSensitive: true });
  await store.tokens.create(record, LOCAL);
  return value;
}
