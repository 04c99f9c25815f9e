/**
 * Naming rules of the policy document. Each rule is a pattern plus the sentence a validation error
 * shows, so the schema, the semantic checks and the messages all speak from one place.
 */
export interface NameRule {
  readonly pattern: string;
  readonly regex: RegExp;
  readonly maxLength: number;
  readonly describe: string;
}

function rule(pattern: string, maxLength: number, describe: string): NameRule {
  return { pattern, regex: new RegExp(pattern), maxLength, describe };
}

const SEGMENT = '[a-z0-9][a-z0-9_-]*';

/** `product/team[/…]`: two or more lowercase path segments. */
export const NAMESPACE = rule(
  `^${SEGMENT}(/${SEGMENT})+$`,
  200,
  'a namespace of two or more lowercase segments (letters, digits, "-", "_") joined by "/", e.g. "checkout/payments"',
);

/** `namespace/name`: the name is the last segment and may also contain dots. */
export const FLAG_KEY = rule(
  `^${SEGMENT}(/${SEGMENT})+/[a-z0-9][a-z0-9._-]*$`,
  256,
  'a key "namespace/name": a namespace of two or more lowercase segments, then a name of lowercase letters, digits, ".", "-", "_", e.g. "checkout/payments/new-card-form"',
);

/**
 * Variation names start with a letter: JavaScript orders integer-like object keys first, and the
 * order of variations is what lays out a rollout's buckets.
 */
export const VARIATION = rule(
  '^[A-Za-z][A-Za-z0-9_-]*$',
  64,
  'a variation name: a letter, then letters, digits, "-" or "_"',
);

export const RULE_ID = rule('^[A-Za-z0-9][A-Za-z0-9_.-]*$', 64, 'a rule id: letters, digits, ".", "-", "_"');

export const ENVIRONMENT = rule(
  '^[a-z0-9][a-z0-9_-]*$',
  32,
  'an environment name: lowercase letters, digits, "-", "_"',
);

export const REGION = rule('^[a-z0-9][a-z0-9_-]*$', 32, 'a region name: lowercase letters, digits, "-", "_"');

/** A context attribute path: dot-separated names, e.g. `app.version`. */
export const ATTRIBUTE = rule(
  '^[A-Za-z_$][A-Za-z0-9_$-]*(\\.[A-Za-z_$][A-Za-z0-9_$-]*)*$',
  256,
  'an attribute path: names of letters, digits, "_", "-", "$" joined by ".", e.g. "app.version"',
);

/** The namespace of a flag or segment key: everything before its last `/`. */
export function namespaceOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/'));
}

/** Splits a flag or segment key into its namespace and name. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.lastIndexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
