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

/**
 * Opens the copy in `dir` with the upstream key `secret`. `keyConfirmed`: the upstream just said whose
 * the key is; only then is a copy sealed with another key moved aside (the key was rotated). Otherwise
 * the key may be mistyped, and the copy is kept: the relay refuses to start, saying so.
 */
export async function openRelayStore(
  dir: string,
  secret: string,
  keyConfirmed: boolean,
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
    if (error instanceof SealedWithAnotherKeyError && !keyConfirmed) {
      throw new Error(
        `the data in ${dir} is sealed with another --sdk-key, and the upstream cannot confirm this one; start it with the key it was sealed with, or with the upstream up to rebuild the copy`,
      );
    }
    if (!(error instanceof SealedWithAnotherKeyError || error instanceof DamagedDataError)) throw error;
    aside(error.message);
    return RelayStore.open(dir, secret);
  }
}
