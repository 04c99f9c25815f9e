/**
 * A sink that appends exposure events to a file as JSON Lines: one `ForwardedExposure` a line, in the
 * order accepted. Writes are appends of whole lines, one at a time, in the background; at most
 * `maxQueuedBytes` wait, beyond which batches are dropped (and reported). The file is not fsynced: a
 * machine crash may lose the last lines. The file is checked for writing when the sink is made, so a
 * wrong path fails at startup.
 */
import { appendFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import type { ExposureBatch } from './events.js';
import type { DropListener, ExposureSink } from './sink.js';

export interface FileSinkOptions {
  path: string;
  maxQueuedBytes?: number;
  onDrop?: DropListener;
  onError?: (error: Error) => void;
}

export function fileSink(options: FileSinkOptions): ExposureSink {
  const maxQueued = options.maxQueuedBytes ?? 16 * 1024 * 1024;
  appendFileSync(options.path, '');
  let queue: { text: string; events: number }[] = [];
  let queuedBytes = 0;
  let writing: Promise<void> | undefined;
  let closed = false;

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const chunks = queue;
      queue = [];
      queuedBytes = 0;
      try {
        await appendFile(options.path, chunks.map((c) => c.text).join(''));
      } catch (error) {
        options.onError?.(error as Error);
        options.onDrop?.(
          'write-failed',
          chunks.reduce((sum, c) => sum + c.events, 0),
        );
      }
    }
  }

  return {
    name: 'file',
    accept(batch: ExposureBatch): void {
      if (batch.events.length === 0) return;
      let text = '';
      for (const event of batch.events) text += `${JSON.stringify(event)}\n`;
      if (closed || queuedBytes + text.length > maxQueued) {
        options.onDrop?.(closed ? 'closed' : 'queue-full', batch.events.length);
        return;
      }
      queue.push({ text, events: batch.events.length });
      queuedBytes += text.length;
      writing ??= drain().finally(() => {
        writing = undefined;
      });
    },
    async close(): Promise<void> {
      closed = true;
      while (writing !== undefined) await writing;
    },
  };
}
