/**
 * Secondary indexes of a flag: tags, words of its key and description, where it is enabled. They are
 * records written in the same commit as the flag, so an index never disagrees with what it indexes.
 */
import type { EnvironmentState } from '@switchyard/core';
import { paths } from './records.js';

const MAX_TOKENS = 64;

/** Lowercase words (letters and digits) of a text, for the text index; at most 64, each ≤ 64 chars. */
export function tokenize(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.filter((w) => w.length <= 64))].slice(0, MAX_TOKENS);
}

export interface Indexable {
  name: string;
  tags?: readonly string[] | undefined;
  description?: string | undefined;
  states: ReadonlyMap<string, EnvironmentState>;
}

/** Every index record of a flag: path → value. */
export function indexRecords(flag: Indexable): Map<string, string> {
  const out = new Map<string, string>();
  for (const tag of flag.tags ?? []) out.set(paths.tag(tag, flag.name), '');
  for (const token of tokenize(`${flag.name} ${flag.description ?? ''}`))
    out.set(paths.text(token, flag.name), '');
  for (const [env, state] of flag.states) {
    if (state.enabled) out.set(paths.enabled(env, flag.name), '');
    for (const [region, override] of Object.entries(state.regions ?? {})) {
      if (override.enabled !== undefined) {
        out.set(paths.region(env, region, flag.name), override.enabled ? '1' : '0');
      }
    }
    if (state.schedule !== undefined && state.schedule.length > 0)
      out.set(paths.scheduled(env, flag.name), '');
  }
  return out;
}

/** What to write and delete to go from one set of index records to another. */
export function indexChanges(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): { puts: [string, string][]; deletes: string[] } {
  const puts: [string, string][] = [];
  const deletes: string[] = [];
  for (const [path, value] of after) if (before.get(path) !== value) puts.push([path, value]);
  for (const path of before.keys()) if (!after.has(path)) deletes.push(path);
  return { puts, deletes };
}
