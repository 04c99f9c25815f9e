/**
 * The relay's LMDB data file, checked before the relay maps it. LMDB trusts its file: a truncated one
 * kills the process that maps it with SIGBUS, zeroed or garbled meta pages with SIGSEGV, before any error
 * can be caught. So a child process opens the file and reads every record first; if it dies or throws,
 * the file is unreadable, and the relay moves it aside and rebuilds its copy from the upstream (the copy
 * is a cache of what the upstream holds, so nothing is lost but the time to fetch it again).
 */
import { execFile } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const DATA_FILE = 'data.mdb';
const LOCK_FILE = 'lock.mdb';
/** Longest the check may take; a copy that cannot be read through in this time is not used. */
const CHECK_TIMEOUT_MS = 5 * 60_000;

/**
 * What the child runs: open the file read-only and read every record of every database. It prints `ok`,
 * or exits 2 with what LMDB threw; exit 3 when it could not even load LMDB (nothing said of the file).
 */
const CHECK = `
const [path, lmdb, maxDbs, ...names] = process.argv.slice(1);
let open;
try { ({ open } = require(lmdb)); } catch (error) { process.stdout.write(String(error.message)); process.exit(3); }
try {
  const root = open({ path, maxDbs: Number(maxDbs), readOnly: true });
  for (const name of names) {
    const db = root.openDB({ name, encoding: 'binary' });
    if (db !== undefined) for (const entry of db.getRange()) void entry.value;
  }
  root.close();
  process.stdout.write('ok');
} catch (error) {
  process.stdout.write(String(error.message));
  process.exit(2);
}`;

/**
 * Why the data file in `dir` cannot be used, or undefined when it reads through (or does not exist).
 * Throws only when the check itself cannot run.
 */
export async function unreadableReason(
  dir: string,
  databases: readonly string[],
  maxDbs: number,
): Promise<string | undefined> {
  const file = join(dir, DATA_FILE);
  if (!existsSync(file)) return undefined;
  if (statSync(file).size === 0) return 'it is empty (0 bytes)';
  const lmdb = createRequire(import.meta.url).resolve('lmdb');
  const outcome = await new Promise<{ code: number | null; signal: string | null; out: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ['-e', CHECK, dir, lmdb, String(maxDbs), ...databases],
        { timeout: CHECK_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 64 * 1024 },
        (error, stdout) => {
          const failed = error as (Error & { code?: number | string; signal?: string | null }) | null;
          resolve({
            code: failed === null ? 0 : typeof failed.code === 'number' ? failed.code : null,
            signal: failed?.signal ?? null,
            out: stdout,
          });
        },
      );
    },
  );
  if (outcome.code === 0 && outcome.out === 'ok') return undefined;
  if (outcome.code === 3) throw new Error(`cannot check the relay's data file: ${outcome.out}`);
  if (outcome.signal === 'SIGTERM') return `reading it through took over ${CHECK_TIMEOUT_MS / 1000} s`;
  if (outcome.signal !== null)
    return `reading it kills the process (${outcome.signal}): truncated or damaged`;
  return `reading it fails: ${outcome.out.trim().slice(0, 300) || `exit code ${outcome.code}`}`;
}

/** Moves the data file in `dir` aside (its lock file is removed) and says where it went. */
export function moveAside(dir: string): string {
  const file = join(dir, DATA_FILE);
  const aside = `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(file, aside);
  rmSync(join(dir, LOCK_FILE), { force: true });
  return aside;
}

/** The path of the data file in `dir`, for messages. */
export const dataFileOf = (dir: string) => join(dir, DATA_FILE);
