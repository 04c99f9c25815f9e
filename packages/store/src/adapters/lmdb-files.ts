/**
 * The LMDB data directory, checked before LMDB maps it: LMDB trusts its file, and a damaged one crashes
 * the process (SIGBUS past the end of a truncated file, SIGSEGV on zeroed meta pages) with no word of why.
 *
 * - `store.json` beside the data, written once when the store is created, says a store lives here. If
 *   it is there and `data.mdb` is missing or empty, the data was lost: the store refuses to start
 *   instead of starting empty (and handing out a new admin token, and empty snapshots to every SDK).
 * - `data.mdb`'s two meta pages are read and checked: LMDB's magic and data version, a page size LMDB
 *   can have, and the last page the newer one names lying within the file.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../errors.js';

/** The data directory cannot be used as it is; the message is one line saying why and what to do. */
export class DataFileError extends StoreError {
  override name = 'DataFileError';
}

export const MARKER = 'store.json';
const DATA = 'data.mdb';

// From LMDB's mdb.c: MDB_MAGIC, MDB_DATA_VERSION of the LMDB lmdb-js builds, P_META.
const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const P_META = 0x08;
// The page header (MDB_page_header: page number, txnid, pad, flags, lower, upper) precedes MDB_meta.
const HEADER = 24;
// Offsets within MDB_meta (64-bit): magic, version, address, mapsize, dbs[2] (48 bytes each, the first's
// md_pad is the page size), last page, txnid.
const META = { magic: 0, version: 4, pageSize: 24, lastPage: 120, txnid: 128, end: 136 } as const;

interface Meta {
  readonly txnid: bigint;
  readonly lastPage: bigint;
  readonly pageSize: number;
}

/**
 * Checks the directory before LMDB opens it; throws `DataFileError` when it must not be opened. Call
 * `markInitialised` once LMDB has opened it.
 */
export function checkDataDirectory(dir: string): void {
  const marker = join(dir, MARKER);
  const data = join(dir, DATA);
  const size = existsSync(data) ? statSync(data).size : undefined;
  if (existsSync(marker) && (size === undefined || size === 0)) {
    throw new DataFileError(
      `refusing to start: ${data} is ${size === undefined ? 'missing' : 'empty'} but ${marker} says ${describeMarker(marker)} held data here; restore data.mdb from a backup (or move ${MARKER} away to start a new, empty store)`,
    );
  }
  if (size === undefined || size === 0) return; // a new store
  const fd = openSync(data, 'r');
  try {
    const first = readMeta(fd, 0, data);
    const second = readMeta(fd, first.pageSize, data);
    const newer = second.txnid > first.txnid ? second : first;
    const needed = (newer.lastPage + 1n) * BigInt(newer.pageSize);
    if (needed > BigInt(size)) {
      throw new DataFileError(
        `refusing to start: ${data} is ${size} bytes but its meta page names ${needed} (last page ${newer.lastPage}): the file was truncated; restore it from a backup`,
      );
    }
  } finally {
    closeSync(fd);
  }
}

function readMeta(fd: number, offset: number, file: string): Meta {
  const page = Buffer.alloc(HEADER + META.end);
  const read = readSync(fd, page, 0, page.length, offset);
  const which = offset === 0 ? 'first' : 'second';
  const bad = (why: string) =>
    new DataFileError(
      `refusing to start: ${file} is not a readable LMDB file (${which} meta page: ${why}); restore it from a backup`,
    );
  if (read < page.length) throw bad('the file ends inside it');
  const flags = page.readUInt16LE(18);
  const magic = page.readUInt32LE(HEADER + META.magic);
  const version = page.readUInt32LE(HEADER + META.version);
  const pageSize = page.readUInt32LE(HEADER + META.pageSize);
  if (magic !== MAGIC) throw bad(`magic ${magic.toString(16)}, not ${MAGIC.toString(16)}`);
  if ((flags & P_META) === 0) throw bad('not marked as a meta page');
  if (version !== DATA_VERSION) throw bad(`data version ${version}, not ${DATA_VERSION}`);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw bad(`page size ${pageSize}`);
  }
  return {
    pageSize,
    lastPage: page.readBigUInt64LE(HEADER + META.lastPage),
    txnid: page.readBigUInt64LE(HEADER + META.txnid),
  };
}

function describeMarker(marker: string): string {
  try {
    const { id, initialisedAt } = JSON.parse(readFileSync(marker, 'utf8')) as Record<string, unknown>;
    return `store ${String(id)} (initialised ${String(initialisedAt)})`;
  } catch {
    return 'a store';
  }
}

/** Writes `store.json` if it is not there yet (a new store, or one made before markers); never rewrites it. */
export function markInitialised(dir: string): void {
  const marker = join(dir, MARKER);
  if (existsSync(marker)) return;
  const temporary = `${marker}.${process.pid}.tmp`;
  const text = `${JSON.stringify({ id: randomUUID(), initialisedAt: new Date().toISOString(), format: 'switchyard-lmdb' }, null, 2)}\n`;
  writeFileSync(temporary, text, { flag: 'w' });
  const fd = openSync(temporary, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    // A link, not a rename: of two processes creating a store at once, the first marker stays.
    linkSync(temporary, marker);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
}

// The checker as this module was loaded: from source (.ts, run through the same loader flags) or built.
const CHECKER = new URL(
  import.meta.url.endsWith('.ts') ? './lmdb-check.ts' : './lmdb-check.js',
  import.meta.url,
);
/** How long the checker may take, and how much it may say. */
const CHECK_TIMEOUT_MS = 120_000;

/**
 * Reads the ledger of `namespace` in `dir` (or, without one, every database) in a child process (see
 * lmdb-check.ts); resolves with what went wrong (its crash, on one line) or undefined when every page
 * was read.
 */
export function checkInChild(dir: string, namespace?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...process.execArgv, fileURLToPath(CHECKER), dir, ...(namespace === undefined ? [] : [namespace])],
      { timeout: CHECK_TIMEOUT_MS, maxBuffer: 64 * 1024 },
      (error, stdout, stderr) => {
        if (error === null && stdout.startsWith('ok ')) return resolve(undefined);
        const said = stderr.split('\n').find((line) => /assert|error|fault/i.test(line)) ?? stderr.trim();
        const how = error?.signal ?? (error?.code === undefined ? 'no answer' : `exit ${error.code}`);
        resolve(
          `reading its pages failed (${how}${said === '' ? '' : `: ${said.slice(0, 300)}`}): the data file has a damaged page`,
        );
      },
    );
  });
}
