/**
 * The last known good data on disk, in the snapshot format. Writes are debounced (many patches in a
 * burst make one write) and atomic: the bytes go to a temporary file in the same directory, which is
 * then renamed over the cache, so a reader (or a crash) sees the old file or the new one, never half of
 * one. Failures to write are reported to `onError` and never thrown: the cache is a fallback.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export class CacheFile {
  private timer: NodeJS.Timeout | undefined;
  private produce: (() => readonly Buffer[]) | undefined;
  /** How long the last write took: writes of a large cache are spaced by ten times that at least. */
  private lastWriteMs = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly delayMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  /** The file's bytes; undefined when it does not exist or cannot be read. */
  async read(): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(error as Error);
      return undefined;
    }
  }

  /**
   * Writes `produce()` (the file's parts, in order) after the delay; a later call within the delay
   * replaces the earlier one.
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
        for (const part of parts) await file.write(part);
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
