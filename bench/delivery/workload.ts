/**
 * The delivery benchmark's flags: small, and shaped as most flags in a large organisation are. Keys and
 * namespaces are the store benchmark's (1,000 flags a namespace); only `production` is defined.
 *
 * - 6 in 10: a plain on/off toggle;
 * - 3 in 10: a percentage rollout (5–95%);
 * - 1 in 10: a targeted rule (country in US, CA, GB and plan = enterprise) before a 25% rollout.
 *
 * A third of the flags are disabled (serving `off`), so `enabled` is known from the index alone.
 */
import type { FlagDocument } from '@switchyard/core';
import { flagKey, TARGETED_RULE } from '../store/workload.js';

export { FLAGS_PER_NAMESPACE, flagKey, namespaceOf } from '../store/workload.js';

export const isEnabled = (i: number) => i % 3 !== 0;

export function deliveryFlag(i: number): FlagDocument {
  const shape = i % 10;
  const rollout = 5 + (i % 19) * 5;
  return {
    key: flagKey(i),
    type: 'boolean',
    variations: { on: true, off: false },
    environments: {
      production: {
        enabled: isEnabled(i),
        offVariation: 'off',
        ...(shape === 9
          ? {
              rules: [TARGETED_RULE],
              default: { rollout: { on: 25, off: 75 } },
            }
          : shape >= 6
            ? { default: { rollout: { on: rollout, off: 100 - rollout } } }
            : { default: 'on' }),
      },
    },
  };
}
