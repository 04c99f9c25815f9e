/**
 * Opening the relay's copy without ever crashing on it: a data file that cannot be read through (see
 * `data-file.ts`), whose positions or settings do not read back, or whose sensitive values were sealed
 * with another upstream key, is moved aside with one log line, and the relay starts with an empty copy that it rebuilds from its upstream.
 */
import { dataFileOf, moveAside, unreadableReason } from './data-file.js';
import {
  DATABASES,
  DamagedDataError,
  MAX_DBS,
  RelayStore,
  SealedWithAnotherKeyError,
} from './relay-store.js';

export async function openRelayStore(
  dir: string,
  secret: string,
  warn: (line: string) => void,
): Promise<RelayStore> {
  const aside = (why: string) => {
    const where = moveAside(dir);
    warn(
      `relay: the data file ${dataFileOf(dir)} cannot be used (${why}); moved it to ${where}, rebuilding the copy from the upstream`,
    );
  };
  const unreadable = await unreadableReason(dir, DATABASES, MAX_DBS);
  if (unreadable !== undefined) aside(unreadable);
  try {
    return await RelayStore.open(dir, secret);
  } catch (error) {
    if (!(error instanceof SealedWithAnotherKeyError || error instanceof DamagedDataError)) throw error;
    aside(error.message);
    return RelayStore.open(dir, secret);
  }
}
