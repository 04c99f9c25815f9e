/**
 * A child process for the crash test: writes flag changes to an LMDB store as fast as it can, several
 * in flight at once, and reports each acknowledged change on stdout — synchronously, so that a line
 * printed is a change acknowledged before the process could be killed.
 */
import { writeSync } from 'node:fs';
import { LmdbAdapter } from '../adapters/lmdb.js';
import { ConflictError } from '../errors.js';
import { FlagStore } from '../store.js';

const [dir, workersText] = process.argv.slice(2);
const workers = Number(workersText ?? 4);
const store = new FlagStore(new LmdbAdapter({ path: dir! }));
const actor = { actor: 'crash-writer' };

if ((await store.flags.environments()).length === 0) {
  await store.flags.putEnvironment({ name: 'production', protected: false }, actor);
}
for (let w = 0; w < workers; w++) {
  const key = `crash/test/flag-${w}`;
  if ((await store.flags.meta(key)) === undefined) {
    try {
      await store.flags.create(
        {
          key,
          type: 'number',
          variations: { v: 0 },
          environments: { production: { enabled: true, offVariation: 'v', default: 'v' } },
        },
        actor,
      );
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}
writeSync(1, 'ready\n');

await Promise.all(
  Array.from({ length: workers }, async (_, w) => {
    const key = `crash/test/flag-${w}`;
    for (;;) {
      const current = await store.flags.state(key, 'production');
      const next = await store.flags.updateState(
        key,
        'production',
        {
          expectedVersion: current!.version,
          state: (s) => ({ ...s, targets: { v: [`written-${current!.version + 1}`] } }),
        },
        actor,
      );
      writeSync(1, `ack ${key} ${next.version}\n`);
    }
  }),
);
