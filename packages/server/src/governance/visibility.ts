/**
 * What a principal sees of what it may read: states and segment members of environments within its
 * environment scope only, ledger events without the parts about other environments, and sensitive
 * variation values only with the right to read them (else the marker "[sensitive]", as in the ledger).
 */
import {
  type ChangeEvent,
  type FlagMeta,
  type FlagView,
  REDACTED,
  type SegmentView,
} from '@switchyard/store';
import { inEnvironments, type Principal, readsSensitive } from './access.js';

/** What a principal without `readSensitive` reads in place of a sensitive variation value: the store's marker. */
export { REDACTED };

/** The metadata, with sensitive variation values replaced by the marker unless the principal reads them. */
export function visibleMeta(principal: Principal, meta: FlagMeta): FlagMeta {
  if (meta.sensitive !== true || readsSensitive(principal)) return meta;
  return {
    ...meta,
    variations: Object.fromEntries(Object.keys(meta.variations).map((name) => [name, REDACTED])),
  };
}

/** Only the entries of environments within the principal's scope. */
function inScope<T>(principal: Principal, byEnvironment: Record<string, T>): Record<string, T> {
  if (principal.environments.length === 0) return byEnvironment;
  return Object.fromEntries(Object.entries(byEnvironment).filter(([env]) => inEnvironments(principal, env)));
}

export function visibleFlag(principal: Principal, view: FlagView): FlagView {
  return { meta: visibleMeta(principal, view.meta), states: inScope(principal, view.states) };
}

export function visibleSegment(principal: Principal, view: SegmentView): SegmentView {
  return { meta: view.meta, states: inScope(principal, view.states) };
}

/** A document in an event's patch (flag or segment), with only the environments in scope. */
function visibleDocument(principal: Principal, document: unknown): unknown {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return document;
  const { environments } = document as { environments?: unknown };
  if (typeof environments !== 'object' || environments === null) return document;
  return { ...document, environments: inScope(principal, environments as Record<string, unknown>) };
}

/**
 * A ledger event as the principal may read it: an event about an environment outside its scope keeps its
 * place in the chain but loses its patch; documents (creation, import) keep only the environments in scope.
 */
export function visibleEvent(principal: Principal, event: ChangeEvent): ChangeEvent {
  if (principal.environments.length === 0 || event.patch === undefined) return event;
  if (event.environment !== undefined && !inEnvironments(principal, event.environment)) {
    const { patch: _patch, ...rest } = event;
    return rest;
  }
  const patch = Array.isArray(event.patch)
    ? event.patch.map((d) => visibleDocument(principal, d))
    : visibleDocument(principal, event.patch);
  return { ...event, patch };
}
