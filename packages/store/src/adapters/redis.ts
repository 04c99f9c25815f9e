/**
 * The Redis adapter: Redis 7, standalone or Redis Cluster. Every key of a namespace carries the hash
 * tag `{namespace}`, so a namespace lives in one slot and a commit is one atomic script on one shard:
 * check the ledger head and the preconditions, write the records and their path index, append the
 * event to the namespace's stream, move the head, publish a notification.
 *
 * Layout (prefix `sy` by default):
 *   sy:{ns}:h          hash: seq, hash (ledger head), cseq, chash (checkpoint)
 *   sy:{ns}:k          sorted set of record paths (all scores 0, so ordered by bytes)
 *   sy:{ns}:l          stream: the ledger, entry id 0-seq, fields p (prev hash), h, d (digest), b (body),
 *                      i (the commit's id, so a commit re-sent after a lost reply applies once)
 *   sy:{ns}:r          hash: record path → "version:value"
 *   sy:{ns}:n          hash: counter path → count (counters, outside the ledger)
 *   sy:{ns}:nk         sorted set of counter paths (all scores 0)
 *   sy:{ns}:a:{id}     marker of an applied addCounts call (an hour), so a re-sent call applies once
 *   sy:{ns}:f          sharded pub/sub channel: "namespace \n seq" of each commit of the namespace
 *   sy:commits         pub/sub channel: the same, for each namespace's first commit only
 *   sy:ns              sorted set of namespaces (one slot; updated before each namespace's first commit)
 *   sy:layout          this layout's number, "2" (layout 1 kept each record in a key of its own)
 *
 * Durability: a commit resolves once the shard applied it and, with `waitReplicas`, once that many
 * replicas acknowledged it (WAIT). See the package README for what survives a failover.
 */
import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import type {
  Commit,
  CommitListener,
  CommitOutcome,
  CountDelta,
  LedgerEntry,
  LedgerHead,
  ScanOptions,
  StoreAdapter,
  StoredCount,
  StoredRecord,
} from '../contract.js';
import { StoreError, UnavailableError } from '../errors.js';
import { chainHash, GENESIS } from '../ledger.js';
import { ADD_COUNTS, COMMIT, PRUNE, packCommit } from './redis-scripts.js';

export interface RedisAdapterOptions {
  /** A client to use; the adapter does not close it. */
  client?: Redis | Cluster;
  /** Or a URL to connect to: `redis://host:port` or `redis-cluster://host:port,host:port,…`. */
  url?: string;
  /** Replicas that must acknowledge a commit before it resolves (WAIT); 0 for none. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** Serve reads from replicas (cluster only): more read capacity, reads may lag writes slightly. */
  readFromReplicas?: boolean;
  keyPrefix?: string;
}

type ScriptedClient = (Redis | Cluster) & {
  sycommitBuffer(...args: (string | Buffer | number)[]): Promise<(Buffer | null)[]>;
  syprune(...args: (string | number)[]): Promise<number>;
  sycount(...args: (string | number)[]): Promise<number>;
};

const COLON = 0x3a;
/** The key layout this adapter reads and writes (see the module comment). */
const LAYOUT = '2';
const HEAD_RETRIES = 1000;

/**
 * Client settings under which a failover stalls commands instead of failing them: commands wait in the
 * offline queue and are retried while the cluster moves slots to a promoted replica.
 */
export function connectRedis(url: string, options: { readFromReplicas?: boolean } = {}): Redis | Cluster {
  const parsed = /^(redis|redis-cluster):\/\/(.+)$/.exec(url);
  if (parsed === null)
    throw new Error(`store URL "${url}" is neither redis://host:port nor redis-cluster://host:port,…`);
  const nodes = parsed[2]!.split(',').map((hostPort) => {
    const [host, port] = hostPort.replace(/\/.*$/, '').split(':');
    return { host: host || '127.0.0.1', port: Number(port || 6379) };
  });
  const redisOptions = { maxRetriesPerRequest: null, connectTimeout: 2000, enableAutoPipelining: true };
  if (parsed[1] === 'redis') return new Redis({ ...nodes[0]!, ...redisOptions });
  const clusterOptions: ClusterOptions = {
    scaleReads: options.readFromReplicas ? 'slave' : 'master',
    enableOfflineQueue: true,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    maxRedirections: 64,
    slotsRefreshTimeout: 2000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    redisOptions,
  };
  return new Cluster(nodes, clusterOptions);
}

function unavailable(error: unknown): never {
  if (error instanceof UnavailableError) throw error;
  throw new UnavailableError(`Redis did not answer: ${(error as Error).message}`);
}

export class RedisAdapter implements StoreAdapter {
  readonly kind = 'redis';
  private readonly client: ScriptedClient;
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly heads = new Map<string, { seq: number; hash: string }>();
  private readonly registered = new Set<string>();
  private readonly listeners = new Set<CommitListener>();
  private subscriber: Redis | Cluster | undefined;
  /** Namespaces whose channel is subscribed (or being subscribed), for `follow`. */
  private readonly followed = new Map<string, Promise<void>>();
  /** Settles once the notification subscription is in place; commits wait for it, so none goes unseen. */
  private subscribed: Promise<unknown> = Promise.resolve();
  private layoutChecked: Promise<void> | undefined;

  constructor(private readonly options: RedisAdapterOptions) {
    const client = options.client ?? (options.url ? connectRedis(options.url, options) : undefined);
    if (client === undefined) throw new Error('RedisAdapter needs a client or a url');
    this.owned = options.client === undefined;
    client.defineCommand('sycommit', { numberOfKeys: 4, lua: COMMIT });
    client.defineCommand('syprune', { numberOfKeys: 2, lua: PRUNE });
    client.defineCommand('sycount', { numberOfKeys: 3, lua: ADD_COUNTS });
    this.client = client as ScriptedClient;
    this.prefix = options.keyPrefix ?? 'sy';
    this.channel = `${this.prefix}:commits`;
  }

  private key(namespace: string, suffix: string): string {
    return `${this.prefix}:{${namespace}}:${suffix}`;
  }

  /**
   * Refuses a Redis that holds Switchyard data in another layout, rather than reading it as empty; marks
   * a Redis with no Switchyard data as this layout. Checked once, before the first record is read or written.
   */
  private layout(): Promise<void> {
    this.layoutChecked ??= (async () => {
      const key = `${this.prefix}:layout`;
      const [found, namespaces] = await Promise.all([
        this.client.get(key),
        this.client.exists(`${this.prefix}:ns`),
      ]).catch(unavailable);
      if (found === LAYOUT || (found === null && namespaces === 0)) {
        if (found === null) await this.client.set(key, LAYOUT, 'NX').catch(unavailable);
        return;
      }
      throw new StoreError(
        `this Redis holds Switchyard data in key layout ${found ?? '1'} (prefix "${this.prefix}"); this version reads layout ${LAYOUT} only and has no migration: use an empty Redis or another key prefix`,
      );
    })();
    this.layoutChecked.catch(() => {
      this.layoutChecked = undefined; // an unreachable Redis is asked again next time
    });
    return this.layoutChecked;
  }

  private static parse(path: string, raw: Buffer | null): StoredRecord | undefined {
    if (raw === null) return undefined;
    const colon = raw.indexOf(COLON);
    return { path, version: Number(raw.toString('latin1', 0, colon)), value: raw.subarray(colon + 1) };
  }

  async get(namespace: string, path: string): Promise<StoredRecord | undefined> {
    await this.layout();
    const raw = await this.client.hgetBuffer(this.key(namespace, 'r'), path).catch(unavailable);
    return RedisAdapter.parse(path, raw);
  }

  async getMany(namespace: string, paths: readonly string[]): Promise<(StoredRecord | undefined)[]> {
    if (paths.length === 0) return [];
    await this.layout();
    const raws = await this.client.hmgetBuffer(this.key(namespace, 'r'), ...paths).catch(unavailable);
    return paths.map((path, i) => RedisAdapter.parse(path, raws[i] ?? null));
  }

  /** Members of a sorted set between `prefix` (or after `after`) and the end of the prefix, by bytes. */
  private async lexRange(key: string, prefix: string, options: ScanOptions): Promise<string[]> {
    const min = options.after !== undefined && options.after >= prefix ? `(${options.after}` : `[${prefix}`;
    const max = Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])]);
    return this.client.zrangebylex(key, min, max, 'LIMIT', 0, options.limit).catch(unavailable);
  }

  async scan(namespace: string, prefix: string, options: ScanOptions): Promise<StoredRecord[]> {
    const paths = await this.lexRange(this.key(namespace, 'k'), prefix, options);
    const records = await this.getMany(namespace, paths);
    return records.filter((r): r is StoredRecord => r !== undefined);
  }

  async namespaces(prefix: string, options: ScanOptions): Promise<string[]> {
    return this.lexRange(`${this.prefix}:ns`, prefix, options);
  }

  async commit(commit: Commit): Promise<CommitOutcome> {
    const ns = commit.namespace;
    await this.layout();
    await this.subscribed;
    if (!this.registered.has(ns)) {
      await this.client.zadd(`${this.prefix}:ns`, 0, ns).catch(unavailable);
      this.registered.add(ns);
    }
    const id = randomUUID();
    const keys = [this.key(ns, 'h'), this.key(ns, 'k'), this.key(ns, 'l'), this.key(ns, 'r')];
    const packed = packCommit(commit.preconditions, commit.puts, commit.deletes);
    const body = Buffer.from(commit.event.body);
    let head = this.heads.get(ns) ?? (await this.ledgerHead(ns));
    for (let attempt = 0; attempt < HEAD_RETRIES; attempt++) {
      const hash = chainHash(head.hash, head.seq + 1, commit.event.digest);
      const reply = await this.client
        .sycommitBuffer(
          ...keys,
          head.seq,
          head.hash,
          hash,
          commit.event.digest,
          body,
          this.channel,
          ns,
          GENESIS,
          packed,
          this.key(ns, 'f'),
          id,
        )
        .catch(unavailable);
      const word = reply[0]!.toString();
      if (word === 'head') {
        head = { seq: Number(reply[1]!.toString()), hash: reply[2]!.toString() };
        this.heads.set(ns, head);
        continue;
      }
      if (word === 'conflict') {
        return {
          ok: false,
          path: reply[1]!.toString(),
          expected: Number(reply[2]!.toString()),
          actual: Number(reply[3]!.toString()),
        };
      }
      const seq = Number(reply[1]!.toString());
      if (word === 'ok') this.heads.set(ns, { seq, hash });
      await this.waitForReplicas(keys[0]!);
      if (word === 'ok') return { ok: true, seq, hash };
      // Applied by an earlier send of this same commit: its own entry holds its hash.
      const [entry] = await this.readLedger(ns, seq, 1);
      return { ok: true, seq, hash: entry?.seq === seq ? entry.hash : (await this.ledgerHead(ns)).hash };
    }
    throw new UnavailableError(`namespace "${ns}" is changing too fast to append to its ledger; try again`);
  }

  private async waitForReplicas(key: string): Promise<void> {
    const wanted = this.options.waitReplicas ?? 0;
    if (wanted <= 0) return;
    const timeout = this.options.waitTimeoutMs ?? 5000;
    let node: Redis | undefined;
    if (this.client instanceof Cluster) {
      const owner = this.client.slots[calculateSlot(key)]?.[0];
      node = this.client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
    } else {
      node = this.client;
    }
    if (node === undefined) throw new UnavailableError('no master serves this namespace right now');
    const acknowledged = await node.wait(wanted, timeout).catch(unavailable);
    if (acknowledged < wanted) {
      throw new UnavailableError(
        `the change was applied but only ${acknowledged} of ${wanted} replicas confirmed it within ${timeout} ms; retry with the same idempotency key`,
      );
    }
  }

  async readLedger(namespace: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    const entries = await this.client
      .xrangeBuffer(this.key(namespace, 'l'), `0-${Math.max(fromSeq, 1)}`, '+', 'COUNT', limit)
      .catch(unavailable);
    return entries.map(([id, fields]) => {
      const get = (name: string) => {
        for (let i = 0; i < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1]!;
        throw new UnavailableError(`ledger entry ${id} of "${namespace}" has no field "${name}"`);
      };
      return {
        namespace,
        seq: Number(id.toString().split('-')[1]),
        prevHash: get('p').toString(),
        hash: get('h').toString(),
        digest: get('d').toString(),
        body: new Uint8Array(get('b')),
      };
    });
  }

  async ledgerHead(namespace: string): Promise<LedgerHead> {
    const [seq, hash, cseq, chash] = await this.client
      .hmget(this.key(namespace, 'h'), 'seq', 'hash', 'cseq', 'chash')
      .catch(unavailable);
    return {
      seq: Number(seq ?? 0),
      hash: hash ?? GENESIS,
      checkpoint: cseq ? { seq: Number(cseq), hash: chash! } : null,
    };
  }

  async pruneLedger(namespace: string, throughSeq: number): Promise<void> {
    await this.client
      .syprune(this.key(namespace, 'h'), this.key(namespace, 'l'), throughSeq)
      .catch(unavailable);
  }

  async addCounts(namespace: string, entries: readonly CountDelta[]): Promise<void> {
    if (entries.length === 0) return;
    const args: (string | number)[] = [];
    for (const { path, delta } of entries) args.push(path, delta);
    const marker = this.key(namespace, `a:${randomUUID()}`);
    await this.client
      .sycount(this.key(namespace, 'n'), this.key(namespace, 'nk'), marker, ...args)
      .catch(unavailable);
    await this.waitForReplicas(marker);
  }

  async readCounts(namespace: string, prefix: string, options: ScanOptions): Promise<StoredCount[]> {
    const paths = await this.lexRange(this.key(namespace, 'nk'), prefix, options);
    if (paths.length === 0) return [];
    const counts = await this.client.hmget(this.key(namespace, 'n'), ...paths).catch(unavailable);
    const out: StoredCount[] = [];
    paths.forEach((path, i) => {
      const count = counts[i];
      if (count !== null && count !== undefined) out.push({ path, count: Number(count) });
    });
    return out;
  }

  watch(listener: CommitListener): () => void {
    this.listeners.add(listener);
    this.notifications();
    return () => this.listeners.delete(listener);
  }

  async follow(namespace: string): Promise<void> {
    let subscribed = this.followed.get(namespace);
    if (subscribed === undefined) {
      subscribed = this.notifications()
        .ssubscribe(this.key(namespace, 'f'))
        .then(
          () => undefined,
          (error) => {
            this.followed.delete(namespace); // asked again next time
            unavailable(error);
          },
        );
      this.followed.set(namespace, subscribed);
    }
    return subscribed;
  }

  /**
   * The connection notifications arrive on, subscribed to the channel of first commits: made on first use.
   * In a cluster, its sharded subscriptions follow their slots to whichever node serves them.
   */
  private notifications(): Redis | Cluster {
    if (this.subscriber !== undefined) return this.subscriber;
    const subscriber =
      this.client instanceof Cluster
        ? this.client.duplicate([], { shardedSubscribers: true })
        : this.client.duplicate();
    this.subscriber = subscriber;
    const notify = (_channel: string, message: string) => {
      const newline = message.lastIndexOf('\n');
      const namespace = message.slice(0, newline);
      const seq = Number(message.slice(newline + 1));
      for (const l of this.listeners) l(namespace, seq);
    };
    subscriber.on('message', notify);
    subscriber.on('smessage', notify);
    this.subscribed = subscriber.subscribe(this.channel).catch(() => {
      // The change feed polls as well; a subscription that fails only delays notifications.
    });
    return subscriber;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.followed.clear();
    if (this.subscriber !== undefined) {
      this.subscriber.disconnect();
      this.subscriber = undefined;
    }
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }
}
