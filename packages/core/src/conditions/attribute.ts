/**
 * Context attribute paths. `app.version` reads `context.app.version`; a context key that itself holds
 * the dots (`context["app.version"]`) wins when present.
 */
export interface AttributePath {
  readonly name: string;
  /** The dotted path's parts, or null for a plain name. */
  readonly parts: readonly string[] | null;
}

export function attributePath(name: string): AttributePath {
  return { name, parts: name.includes('.') ? name.split('.') : null };
}

type Bag = Record<string, unknown>;

/** The attribute's value, or undefined when absent; `null` reads as absent. */
export function readAttribute(context: Bag, path: AttributePath): unknown {
  let value = context[path.name];
  if (value === undefined && path.parts !== null) {
    value = context;
    for (const part of path.parts) {
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Bag)[part];
    }
  }
  return value === null ? undefined : value;
}
