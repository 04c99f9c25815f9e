/** The store benchmark's data: flags spread over namespaces, with tags, words and region overrides. */
import type { FlagDocument } from '@switchyard/core';

/** Flags per namespace: consecutive flags share a namespace, as flags-as-code repositories group them. */
export const FLAGS_PER_NAMESPACE = 1000;
export const TAGS = Array.from({ length: 20 }, (_, i) => `tag${i}`);
const WORDS = [
  'checkout',
  'payment',
  'search',
  'profile',
  'banner',
  'pricing',
  'login',
  'cart',
  'mobile',
  'beta',
];

export const namespaceOf = (i: number) =>
  `bench/ns${String(Math.floor(i / FLAGS_PER_NAMESPACE)).padStart(4, '0')}`;
export const flagKey = (i: number) => `${namespaceOf(i)}/flag-${i}`;

/** The benchmarks' targeted rule: enterprise customers in the US, Canada and Britain get `on`. */
export const TARGETED_RULE = {
  id: 'targeted',
  when: [
    { attribute: 'country', op: 'in' as const, values: ['US', 'CA', 'GB'] },
    { attribute: 'plan', op: 'eq' as const, values: ['enterprise'] },
  ],
  serve: 'on',
};

/** Flag `i`: a targeted rule and a rollout, a tag, two words of description, every 7th off in eu-west. */
export function flagDocument(i: number): FlagDocument {
  return {
    key: flagKey(i),
    type: 'boolean',
    description: `${WORDS[i % WORDS.length]} ${WORDS[(i * 7) % WORDS.length]} experiment ${i}`,
    tags: [TAGS[i % TAGS.length]!],
    variations: { on: true, off: false },
    environments: {
      production: {
        enabled: i % 3 !== 0,
        offVariation: 'off',
        rules: [TARGETED_RULE],
        default: { rollout: { on: 25, off: 75 } },
        ...(i % 7 === 0 ? { regions: { 'eu-west': { enabled: false } } } : {}),
      },
    },
  };
}

export { WORDS };
