/**
 * Flag queries with cursor pagination. Each query is driven by one index scan (all flags, a tag, a word,
 * or "enabled in an environment"), namespace by namespace in key order, and reads only the candidates it
 * returns or rejects: a page costs its own size, not the size of the flag set.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { type EnvironmentState, namespaceCovered, splitKey, stateAt } from '@switchyard/core';
import type { StoreAdapter } from './contract.js';
import { StoreValidationError } from './errors.js';
import { tokenize } from './indexes.js';
import { decodeRecord, type FlagMeta, paths, type StateRecord, SYSTEM_NAMESPACE } from './records.js';
import { type Keyring, openMeta } from './sensitive.js';

export interface FlagQuery {
  /** Key prefix: a namespace prefix (`checkout/`) or a namespace and the start of names (`checkout/payments/new-`). */
  prefix?: string;
  tag?: string;
  /** Words that must all appear in the key or description. */
  text?: string;
  /** Only flags enabled in this environment (and region, at this instant, after schedules). */
  enabled?: { environment: string; region?: string; at?: number };
  /** false (default): live flags only; true: archived flags only. */
  archived?: boolean;
  /**
   * The namespace scopes of the reader (empty or absent: all): only flags of covered namespaces are read,
   * so a scoped reader's page is full and holds nothing outside its scopes.
   */
  namespaces?: readonly string[];
  /** Page size, 1–1000; default 100. */
  limit?: number;
  /** From the previous page of the same query, by a reader with the same scopes. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Present when there may be more. */
  cursor?: string;
}

interface Cursor {
  namespace: string;
  after: string;
}

const SCAN_PAGE = 256;

/**
 * Cursors are opaque: the position, sealed with AES-256-GCM under a key of this store object (derived from
 * the master key when there is one, so every server of a store reads them; else random per process) and
 * bound to the reader's scopes, so a cursor can be neither read, forged, nor used by another reader.
 */
class CursorSeal {
  private readonly key: Buffer;

  constructor(keys: Keyring | undefined) {
    const master = keys?.keys.get(keys.currentId);
    this.key =
      master === undefined
        ? randomBytes(32)
        : Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'switchyard list cursor', 32));
  }

  private static binding(scopes: readonly string[]): Buffer {
    return createHash('sha256')
      .update(JSON.stringify([...scopes].sort()))
      .digest();
  }

  seal(cursor: Cursor, scopes: readonly string[]): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(CursorSeal.binding(scopes));
    const data = Buffer.concat([cipher.update(JSON.stringify(cursor), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64url');
  }

  open(text: string, scopes: readonly string[]): Cursor {
    try {
      if (text.length > 2048) throw new Error('too long');
      const bytes = Buffer.from(text, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
      decipher.setAAD(CursorSeal.binding(scopes));
      decipher.setAuthTag(bytes.subarray(12, 28));
      const plain = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
      const value = JSON.parse(plain) as Cursor;
      if (typeof value.namespace === 'string' && typeof value.after === 'string') return value;
    } catch {}
    throw new StoreValidationError('cursor: not a cursor from a previous page of this query', [
      { path: 'cursor', message: 'not a cursor from a previous page of this query' },
    ]);
  }
}

/** The state's `enabled` at `at`, after schedule steps and the region's override. */
export function enabledAt(state: EnvironmentState, region: string | undefined, at: number): boolean {
  const current = stateAt(state, at);
  const override = region === undefined ? undefined : current.regions?.[region]?.enabled;
  return override ?? current.enabled;
}

export class Queries {
  private readonly cursors: CursorSeal;

  constructor(
    private readonly adapter: StoreAdapter,
    private readonly clock: () => number,
    private readonly keys?: Keyring,
  ) {
    this.cursors = new CursorSeal(keys);
  }

  async list(query: FlagQuery): Promise<Page<FlagMeta>> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const words = query.text === undefined ? [] : tokenize(query.text);
    if (query.text !== undefined && words.length === 0) return { items: [] };
    const scopes = query.namespaces ?? [];
    const start = query.cursor === undefined ? undefined : this.cursors.open(query.cursor, scopes);
    const items: FlagMeta[] = [];
    for await (const namespace of this.scopedNamespaces(query.prefix ?? '', scopes, start?.namespace)) {
      const namePrefix = query.prefix?.startsWith(`${namespace}/`)
        ? query.prefix.slice(namespace.length + 1)
        : '';
      let after = start?.namespace === namespace ? start.after : undefined;
      for (;;) {
        const names = await this.drivingNames(namespace, query, words, namePrefix, after);
        if (names.length === 0) break;
        // perf: the candidates' identities, and for "enabled" their states, in one read each.
        const [metas, states] = await Promise.all([
          this.adapter.getMany(
            namespace,
            names.map((n) => paths.flag(n)),
          ),
          query.enabled === undefined
            ? undefined
            : this.adapter.getMany(
                namespace,
                names.map((n) => paths.state(query.enabled!.environment, n)),
              ),
        ]);
        for (let i = 0; i < names.length; i++) {
          after = names[i]!;
          const record = metas[i];
          if (record === undefined) continue;
          const meta = openMeta(decodeRecord<FlagMeta>(namespace, record.path, record.value), this.keys);
          const state = states?.[i];
          if (
            this.matches(
              meta,
              query,
              words,
              state && decodeRecord<StateRecord>(namespace, state.path, state.value),
            )
          ) {
            items.push(meta);
            if (items.length === limit) {
              return { items, cursor: this.cursors.seal({ namespace, after }, scopes) };
            }
          }
        }
      }
    }
    return { items };
  }

  /**
   * The namespaces of `namespaces(prefix, from)` that the scopes cover, in order: for each scope that meets
   * the prefix, only the namespaces under the narrower of the two are read, and the streams are merged.
   */
  private async *scopedNamespaces(
    prefix: string,
    scopes: readonly string[],
    from: string | undefined,
  ): AsyncGenerator<string> {
    const narrowed = new Set<string>();
    for (const scope of scopes.length === 0 ? [prefix] : scopes) {
      if (scopes.length === 0 || scope.startsWith(prefix)) narrowed.add(scope);
      else if (namespaceCovered([scope], prefix)) narrowed.add(prefix);
    }
    const streams = [...narrowed].map((p) => this.namespaces(p, from)[Symbol.asyncIterator]());
    const heads = await Promise.all(streams.map((s) => s.next()));
    let last: string | undefined;
    for (;;) {
      let at = -1;
      heads.forEach((head, i) => {
        if (!head.done && (at === -1 || head.value < (heads[at]!.value as string))) at = i;
      });
      if (at === -1) return;
      const namespace = heads[at]!.value as string;
      heads[at] = await streams[at]!.next();
      if (namespace === last || (from !== undefined && namespace < from)) continue;
      last = namespace;
      if (namespaceCovered(scopes, namespace)) yield namespace;
    }
  }

  /**
   * Namespaces that may hold flags with keys starting with `prefix`, in order, from `from`: first the
   * namespaces that are proper ancestors of the prefix (`checkout/payments` for `checkout/payments/new-`,
   * which sort before it), then those starting with it, read a page at a time.
   */
  private async *namespaces(prefix: string, from: string | undefined): AsyncGenerator<string> {
    const parts = prefix.split('/');
    const ancestors: string[] = [];
    for (let i = 2; i < parts.length; i++) ancestors.push(parts.slice(0, i).join('/'));
    for (const ancestor of ancestors) {
      if (from !== undefined && ancestor < from) continue;
      if ((await this.adapter.ledgerHead(ancestor)).seq > 0) yield ancestor;
    }
    let after: string | undefined;
    if (from?.startsWith(prefix)) {
      yield from; // the cursor's namespace, where the previous page stopped
      after = from;
    }
    for (;;) {
      const page = await this.adapter.namespaces(prefix, {
        ...(after === undefined ? {} : { after }),
        limit: 200,
      });
      for (const namespace of page) if (namespace !== SYSTEM_NAMESPACE) yield namespace;
      if (page.length < 200) return;
      after = page[page.length - 1];
    }
  }

  /** The next names (after `after`) from the index that drives this query. */
  private async drivingNames(
    namespace: string,
    query: FlagQuery,
    words: string[],
    namePrefix: string,
    after: string | undefined,
  ): Promise<string[]> {
    if (query.enabled !== undefined)
      return this.enabledCandidates(namespace, query.enabled, namePrefix, after);
    const base =
      query.tag !== undefined
        ? paths.tagged(query.tag)
        : words.length > 0
          ? `idx/text/${words[0]}/`
          : paths.flags;
    const records = await this.adapter.scan(namespace, base + namePrefix, {
      ...(after === undefined ? {} : { after: base + after }),
      limit: SCAN_PAGE,
    });
    return records.map((r) => r.path.slice(base.length));
  }

  /** Names that may be enabled: enabled ones, region overrides and scheduled ones, merged in order. */
  private async enabledCandidates(
    namespace: string,
    enabled: NonNullable<FlagQuery['enabled']>,
    namePrefix: string,
    after: string | undefined,
  ): Promise<string[]> {
    const bases = [paths.enabledIn(enabled.environment), paths.scheduledIn(enabled.environment)];
    if (enabled.region !== undefined) bases.push(paths.regionIn(enabled.environment, enabled.region));
    const pages = await Promise.all(
      bases.map((base) =>
        this.adapter.scan(namespace, base + namePrefix, {
          ...(after === undefined ? {} : { after: base + after }),
          limit: SCAN_PAGE,
        }),
      ),
    );
    // Only names up to the smallest last name of a full page are complete in every stream.
    let bound: string | undefined;
    pages.forEach((page, i) => {
      if (page.length === SCAN_PAGE) {
        const last = page[page.length - 1]!.path.slice(bases[i]!.length);
        if (bound === undefined || last < bound) bound = last;
      }
    });
    const names = new Set<string>();
    pages.forEach((page, i) => {
      for (const r of page) {
        const name = r.path.slice(bases[i]!.length);
        if (bound === undefined || name <= bound) names.add(name);
      }
    });
    return [...names].sort();
  }

  /** Whether a candidate passes every filter; `state` is its state in the queried environment, if asked. */
  private matches(
    meta: FlagMeta,
    query: FlagQuery,
    words: string[],
    state: StateRecord | undefined,
  ): boolean {
    if ((meta.archivedAt !== undefined) !== (query.archived === true)) return false;
    if (query.prefix !== undefined && !meta.key.startsWith(query.prefix)) return false;
    if (query.tag !== undefined && !meta.tags?.includes(query.tag)) return false;
    if (words.length > 1) {
      const have = new Set(tokenize(`${splitKey(meta.key).name} ${meta.description ?? ''}`));
      if (!words.every((w) => have.has(w))) return false;
    }
    if (query.enabled !== undefined) {
      // No stored state: the implicit one, which is off.
      if (state === undefined) return false;
      return enabledAt(state.state, query.enabled.region, query.enabled.at ?? this.clock());
    }
    return true;
  }
}
