/**
 * The last known good data on disk, in the snapshot format. Writes are debounced (many patches in a
 * burst make one write) and atomic: the bytes go to a temporary file in the same directory, which is
 * then renamed over the cache, so a reader (or a crash) sees the old file or the new one, never half of
 * one. Failures to write are reported to `onError` and never thrown: the cache is a fallback.
 *
 * Sensitive values are sealed in the file under a key from the client's SDK key (`cache-sealing.ts`). A
 * file is read only up to `maxBytes`; one larger, sealed under another key, damaged or not a snapshot is
 * ignored, with the reason reported to `onError`, as if there were no file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CacheSealing, type CacheSealingFields } from './cache-sealing.js';

/** The default limit of the file read: larger files are ignored. */
export const DEFAULT_CACHE_MAX_BYTES = 1024 ** 3;

export interface CacheFileOptions {
  /** The SDK key the client follows with: the sealing key is derived from it. */
  sdkKey: string;
  /** Delay that gathers changes into one write. */
  delayMs: number;
  /** Files larger than this are not read. */
  maxBytes: number;
}

/** The file is larger than the limit. */
class TooLargeError extends Error {}

export class CacheFile {
  private timer: NodeJS.Timeout | undefined;
  private produce: (() => readonly Buffer[]) | undefined;
  /** How long the last write took: writes of a large cache are spaced by ten times that at least. */
  private lastWriteMs = 0;
  private writing: Promise<void> = Promise.resolve();

  private readonly sealing: CacheSealing;
  private readonly delayMs: number;
  private readonly maxBytes: number;

  constructor(
    readonly path: string,
    options: CacheFileOptions,
    private readonly onError: (error: Error) => void,
  ) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) {
      throw new RangeError(
        `the cache file's limit must be a positive whole number of bytes, not ${options.maxBytes}`,
      );
    }
    this.sealing = new CacheSealing(options.sdkKey);
    this.delayMs = options.delayMs;
    this.maxBytes = options.maxBytes;
  }

  /** The header's fields of what this cache writes: give them to `LocalData.encode`. */
  get headerFields(): { sealing: CacheSealingFields } {
    return { sealing: this.sealing.fields };
  }

  /**
   * The snapshot the file holds, its sensitive lines opened; undefined when it does not exist or cannot
   * be used (the reason reported to `onError`).
   */
  async read(): Promise<Buffer | undefined> {
    let bytes: Buffer;
    try {
      bytes = await this.readBounded();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.onError(
        error instanceof TooLargeError ? error : new Error(`cannot be read: ${(error as Error).message}`),
      );
      return undefined;
    }
    try {
      return this.sealing.open(bytes);
    } catch (error) {
      this.onError(new Error(`${(error as Error).message}: ignored`));
      return undefined;
    }
  }

  /** The file's bytes, at most `maxBytes` of them; throws `TooLargeError` for a larger file. */
  private async readBounded(): Promise<Buffer> {
    const file = await open(this.path, 'r');
    try {
      const { size } = await file.stat();
      if (size > this.maxBytes) {
        throw new TooLargeError(
          `${size} bytes, over the limit of ${this.maxBytes} (cacheFileMaxBytes): ignored`,
        );
      }
      // One byte more than its size: a file that grew meanwhile is seen to, not read in part.
      const buffer = Buffer.allocUnsafe(size + 1);
      let length = 0;
      while (length < buffer.length) {
        const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length > size) throw new Error('it grew while it was read');
      return buffer.subarray(0, length);
    } finally {
      await file.close();
    }
  }

  /**
   * Writes `produce()` (the file's parts, in order, each of whole lines of the snapshot format, its
   * sensitive lines sealed on the way) after the delay; a later call within the delay replaces the
   * earlier one.
   */
  schedule(produce: () => readonly Buffer[]): void {
    this.produce = produce;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.flush();
      },
      Math.max(this.delayMs, 10 * this.lastWriteMs),
    );
    // The cache never keeps a process alive; `close()` of the client flushes it.
    this.timer.unref();
  }

  /** Writes what is scheduled now, and resolves when every write begun so far has ended. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const produce = this.produce;
    this.produce = undefined;
    if (produce !== undefined) this.writing = this.writing.then(() => this.write(produce()));
    return this.writing;
  }

  private async write(parts: readonly Buffer[]): Promise<void> {
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    const started = Date.now();
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const file = await open(temporary, 'w', 0o600);
      try {
        for (const part of parts) await file.write(this.sealing.seal(part));
        await file.sync(); // the bytes are on disk before the rename makes them the cache
      } finally {
        await file.close();
      }
      await rename(temporary, this.path);
      this.lastWriteMs = Date.now() - started;
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => {});
      this.onError(error as Error);
    }
  }
}
