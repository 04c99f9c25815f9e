/**
 * A child of the delivery benchmark: `count` SDK clients following one namespace of a server or relay,
 * each on its own stream. It notes, per flag key, the wall-clock time (`Date.now()`, the clock the parent
 * reads too) at which each client's `change` event named that flag, and hands the times over when asked.
 *
 * Messages (IPC): it sends `{ type: 'ready', ms, sources }` once every client is ready; on
 * `{ type: 'collect', keys, timeoutMs }` it waits until every client saw every key (or the time is up)
 * and answers `{ type: 'samples', samples, missing }`, forgetting them; `{ type: 'exit' }` closes it.
 */
import { createClient, type SwitchyardClient } from '@switchyard/sdk';

export interface ClientsReady {
  type: 'ready';
  ms: number;
  /** How many clients got their data from the server (the others fell back: a failure). */
  fromServer: number;
}

export interface ClientsSamples {
  type: 'samples';
  /** Per flag key, the epoch ms at which each client saw it change. */
  samples: Record<string, number[]>;
  /** Client × key pairs not seen before the timeout. */
  missing: number;
}

export type ToClients = { type: 'collect'; keys: string[]; timeoutMs: number } | { type: 'exit' };

const [url, sdkKey, namespace, countText] = process.argv.slice(2);
if (url === undefined || sdkKey === undefined || namespace === undefined || countText === undefined) {
  throw new Error('usage: sdk-clients.ts URL SDK_KEY NAMESPACE COUNT');
}
const count = Number(countText);
const send = (message: ClientsReady | ClientsSamples) => process.send!(message);

/** A change event names one or a few flags; the first event (the whole namespace) is not a sample. */
const MAX_KEYS_PER_SAMPLE = 16;
let seen = new Map<string, number[]>();
let onSample: (() => void) | undefined;

const started = performance.now();
const clients: SwitchyardClient[] = [];
for (let i = 0; i < count; i++) {
  const client = createClient({
    url,
    sdkKey,
    namespaces: [namespace],
    events: false,
    readyTimeoutMs: 120_000,
    connection: { requestTimeoutMs: 120_000 },
  });
  client.on('change', (event) => {
    const at = Date.now();
    if (event.flags.length > MAX_KEYS_PER_SAMPLE) return;
    for (const key of event.flags) {
      let times = seen.get(key);
      if (times === undefined) {
        times = [];
        seen.set(key, times);
      }
      times.push(at);
    }
    onSample?.();
  });
  clients.push(client);
}
const results = await Promise.all(clients.map((client) => client.ready()));
send({
  type: 'ready',
  ms: performance.now() - started,
  fromServer: results.filter((r) => r.source === 'server').length,
});

function complete(keys: readonly string[]): boolean {
  return keys.every((key) => (seen.get(key)?.length ?? 0) >= count);
}

process.on('message', async (message: ToClients) => {
  if (message.type === 'exit') {
    await Promise.all(clients.map((client) => client.close()));
    process.exit(0);
  }
  if (!complete(message.keys)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, message.timeoutMs);
      onSample = () => {
        if (complete(message.keys)) done();
      };
      function done() {
        clearTimeout(timer);
        onSample = undefined;
        resolve();
      }
    });
  }
  const samples: Record<string, number[]> = {};
  let missing = 0;
  for (const key of message.keys) {
    const times = seen.get(key) ?? [];
    samples[key] = times;
    missing += Math.max(0, count - times.length);
  }
  seen = new Map();
  send({ type: 'samples', samples, missing });
});
