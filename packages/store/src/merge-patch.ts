/** JSON Merge Patch (RFC 7386): the patch that turns `from` into `to`. Arrays are replaced whole. */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const before = from[key];
    if (JSON.stringify(before) === JSON.stringify(value)) continue;
    patch[key] = isObject(before) && isObject(value) ? mergePatch(before, value) : value;
  }
  return patch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
