/** Test helpers for delivery: read a real SSE stream event by event. */
import { EventSourceParserStream } from 'eventsource-parser/stream';

export interface StreamEvent {
  event: string;
  id: string | undefined;
  data: string;
}

export interface OpenStream {
  /** The next event, waiting up to `timeoutMs`. */
  next(timeoutMs?: number): Promise<StreamEvent>;
  /** The next event of this kind, skipping others (heartbeats, say). */
  nextOf(kind: string, timeoutMs?: number): Promise<StreamEvent>;
  status: number;
  close(): void;
}

export async function openStream(url: string, headers: Record<string, string>): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const queue: StreamEvent[] = [];
  const waiting: ((event: StreamEvent | Error) => void)[] = [];
  let failure: Error | undefined;
  const push = (item: StreamEvent | Error) => {
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(item);
    else if (item instanceof Error) failure = item;
    else queue.push(item);
  };
  if (response.ok && response.body !== null) {
    void (async () => {
      try {
        const reader = response
          .body!.pipeThrough(new TextDecoderStream())
          .pipeThrough(new EventSourceParserStream())
          .getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          push({ event: value.event ?? 'message', id: value.id, data: value.data });
        }
        push(new Error('the stream ended'));
      } catch (error) {
        push(error as Error);
      }
    })();
  }
  const next = (timeoutMs = 5000) =>
    new Promise<StreamEvent>((resolve, reject) => {
      const ready = queue.shift();
      if (ready !== undefined) return resolve(ready);
      if (failure !== undefined) return reject(failure);
      const timer = setTimeout(() => reject(new Error(`no stream event within ${timeoutMs} ms`)), timeoutMs);
      waiting.push((item) => {
        clearTimeout(timer);
        if (item instanceof Error) reject(item);
        else resolve(item);
      });
    });
  return {
    status: response.status,
    next,
    async nextOf(kind, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const event = await next(Math.max(1, until - Date.now()));
        if (event.event === kind) return event;
      }
    },
    close: () => controller.abort(),
  };
}
