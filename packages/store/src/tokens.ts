/**
 * API token records. Only a hash of each token's secret is stored; the secret is shown once, by whoever
 * creates the token (the control plane). Creation and revocation are in the system namespace's ledger,
 * without the hash.
 */
import type { StoreAdapter } from './contract.js';
import { NotFoundError } from './errors.js';
import { decodeRecord, encodeRecord, paths, SYSTEM_NAMESPACE } from './records.js';
import type { ChangeContext, Writer } from './writer.js';

export interface TokenRecord {
  /** Public identifier, part of the token as given to its holder. */
  id: string;
  name: string;
  /** A hash of the secret (the caller chooses the scheme, e.g. SHA-256 of a high-entropy secret). */
  secretHash: string;
  role: string;
  /** What the token may touch, e.g. namespace prefixes and environments. */
  scopes: Record<string, readonly string[]>;
  createdAt: string;
  createdBy: string;
  /** Whether the token may read decrypted sensitive variation values; absent means no. */
  readSensitive?: boolean;
  expiresAt?: string;
  revokedAt?: string;
}

export class Tokens {
  constructor(
    private readonly adapter: StoreAdapter,
    private readonly writer: Writer,
  ) {}

  async get(id: string): Promise<TokenRecord | undefined> {
    const record = await this.adapter.get(SYSTEM_NAMESPACE, paths.token(id));
    return record === undefined
      ? undefined
      : decodeRecord<TokenRecord>(SYSTEM_NAMESPACE, record.path, record.value);
  }

  async list(options: { after?: string; limit: number }): Promise<TokenRecord[]> {
    const records = await this.adapter.scan(SYSTEM_NAMESPACE, paths.tokens, {
      ...(options.after === undefined ? {} : { after: paths.token(options.after) }),
      limit: options.limit,
    });
    return records.map((r) => decodeRecord<TokenRecord>(SYSTEM_NAMESPACE, r.path, r.value));
  }

  /**
   * Creates a token. `value`, the token as its holder receives it, is answered back with the record and
   * kept with the idempotency record (sealed; see writer.ts), so that a retry with the same idempotency
   * key answers the same token and value; the request is then what was asked, not the id made up for it.
   */
  async create(
    token: Omit<TokenRecord, 'createdAt' | 'createdBy' | 'revokedAt'>,
    context: ChangeContext,
    value?: string,
  ): Promise<TokenRecord & { value?: string }> {
    const path = paths.token(token.id);
    const { secretHash: _secret, ...visible } = token;
    const { id: _id, ...asked } = visible;
    const request = value === undefined ? visible : { token: asked };
    return this.writer.commit(SYSTEM_NAMESPACE, context, request, async (now) => {
      const record: TokenRecord = {
        ...token,
        createdAt: new Date(now).toISOString(),
        createdBy: context.actor,
      };
      return {
        preconditions: [{ path, version: 0 }],
        puts: [{ path, version: 1, value: encodeRecord(record) }],
        deletes: [],
        event: { action: 'token.create', toVersion: 1, patch: { ...visible, createdBy: context.actor } },
        response: value === undefined ? record : { ...record, value },
        secret: value !== undefined,
        conflict: () => `token "${token.id}" already exists`,
      };
    });
  }

  async revoke(id: string, context: ChangeContext): Promise<TokenRecord> {
    const path = paths.token(id);
    return this.writer.commit(SYSTEM_NAMESPACE, context, { revoke: id }, async (now) => {
      const current = await this.adapter.get(SYSTEM_NAMESPACE, path);
      if (current === undefined) throw new NotFoundError(`token "${id}" does not exist`);
      const record = decodeRecord<TokenRecord>(SYSTEM_NAMESPACE, path, current.value);
      const revoked = { ...record, revokedAt: record.revokedAt ?? new Date(now).toISOString() };
      return {
        preconditions: [{ path, version: current.version }],
        puts: [{ path, version: current.version + 1, value: encodeRecord(revoked) }],
        deletes: [],
        event: {
          action: 'token.revoke',
          fromVersion: current.version,
          toVersion: current.version + 1,
          patch: { id },
        },
        response: revoked,
        conflict: () => `token "${id}" changed meanwhile; try again`,
      };
    });
  }
}
