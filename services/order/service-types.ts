import type { Queryable } from "../common/database.js";
import type { KeyRing, SealedSecret } from "../common/key-ring.js";
import type { Logger } from "../common/logger.js";
import { LruCache } from "../common/lru-cache.js";
import type { PutServiceTypeRequest } from "../../proto/gen/rights/order/v1/order_pb.js";
import { OrderError, orderError } from "./errors.js";

/** A service type, the fields PutServiceType registers (the proto documents each). */
export type ServiceType = Omit<PutServiceTypeRequest, "$typeName" | "$unknown">;

interface ServiceTypeRow {
  type: string;
  name: string;
  /** Plaintext only in rows written before migration 002 (or by an older replica), until `sealAll` runs. */
  aes_key: string | null;
  aes_iv: string | null;
  secret_ciphertext: Buffer | null;
  secret_nonce: Buffer | null;
  secret_tag: Buffer | null;
  secret_kek_id: string | null;
  provider_code: string;
  voucher_template_id: string;
  send_channel: string;
  validity_days: number;
  strict_mac: boolean;
}

const COLUMNS = `type, name, aes_key, aes_iv, secret_ciphertext, secret_nonce, secret_tag, secret_kek_id, provider_code,
  voucher_template_id, send_channel, validity_days, strict_mac`;

const CACHE_TTL_MS = 30_000;
/** Unknown types are cached too (so a flood of them spares the database), and a caller can name any: bounded. */
const CACHE_MAX_ENTRIES = 1_000;

export interface ServiceTypesOptions {
  db: Queryable;
  /** Seals the AES secrets at rest. */
  keys: KeyRing;
  logger: Logger;
  cacheMaxEntries?: number;
}

/**
 * Service types, read on every PSBC call, so they are cached for a short while: a changed key reaches every
 * replica within CACHE_TTL_MS without a restart.
 */
export class ServiceTypes {
  private readonly cache: LruCache<string, { value: ServiceType | null; expiresAt: number }>;

  constructor(private readonly options: ServiceTypesOptions) {
    this.cache = new LruCache(options.cacheMaxEntries ?? CACHE_MAX_ENTRIES);
  }

  /** The service type, or the business error PSBC expects for an unknown one (暂不支持此服务). */
  async require(type: string): Promise<ServiceType> {
    const now = Date.now();
    const cached = this.cache.get(type);
    let value = cached && cached.expiresAt > now ? cached.value : undefined;
    if (value === undefined) {
      const { rows } = await this.options.db.query<ServiceTypeRow>(`SELECT ${COLUMNS} FROM orders.service_type WHERE type = $1`, [type]);
      value = rows[0] ? this.fromRow(rows[0]) : null;
      this.cache.set(type, { value, expiresAt: now + CACHE_TTL_MS });
    }
    if (!value) throw orderError(OrderError.SERVICE_NOT_SUPPORTED, `service type ${type} is not supported`);
    return value;
  }

  async put(serviceType: ServiceType): Promise<void> {
    const sealed = this.seal(serviceType.type, serviceType);
    await this.options.db.query(
      `INSERT INTO orders.service_type
         (type, name, secret_ciphertext, secret_nonce, secret_tag, secret_kek_id, provider_code, voucher_template_id,
          send_channel, validity_days, strict_mac)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (type) DO UPDATE SET
         name = EXCLUDED.name, aes_key = NULL, aes_iv = NULL, secret_ciphertext = EXCLUDED.secret_ciphertext,
         secret_nonce = EXCLUDED.secret_nonce, secret_tag = EXCLUDED.secret_tag, secret_kek_id = EXCLUDED.secret_kek_id,
         provider_code = EXCLUDED.provider_code, voucher_template_id = EXCLUDED.voucher_template_id,
         send_channel = EXCLUDED.send_channel, validity_days = EXCLUDED.validity_days,
         strict_mac = EXCLUDED.strict_mac, updated_at = now()`,
      [
        serviceType.type,
        serviceType.name,
        sealed.ciphertext,
        sealed.nonce,
        sealed.tag,
        sealed.kekId,
        serviceType.providerCode,
        serviceType.voucherTemplateId,
        serviceType.sendChannel,
        serviceType.validityDays,
        serviceType.strictMac,
      ],
    );
    this.cache.delete(serviceType.type);
  }

  /**
   * Seals every secret still in plaintext, and re-seals under the current KEK every one sealed under the
   * previous: run at each start (after migration 002, and after a KEK rotation). Each row's UPDATE is guarded
   * by the state it read, so replicas starting together do no harm. Returns how many rows it (re)sealed.
   */
  async sealAll(): Promise<number> {
    const { keys, db, logger } = this.options;
    const { rows } = await db.query<ServiceTypeRow>(
      `SELECT ${COLUMNS} FROM orders.service_type WHERE secret_kek_id IS DISTINCT FROM $1`,
      [keys.currentId],
    );
    let sealedRows = 0;
    for (const row of rows) {
      const sealed = this.seal(row.type, this.secretOf(row));
      const { rowCount } = await db.query(
        `UPDATE orders.service_type
            SET aes_key = NULL, aes_iv = NULL, secret_ciphertext = $2, secret_nonce = $3, secret_tag = $4,
                secret_kek_id = $5, updated_at = now()
          WHERE type = $1 AND secret_kek_id IS NOT DISTINCT FROM $6`,
        [row.type, sealed.ciphertext, sealed.nonce, sealed.tag, sealed.kekId, row.secret_kek_id],
      );
      sealedRows += rowCount;
    }
    if (sealedRows > 0) logger.info({ sealed: sealedRows, kekId: keys.currentId }, "service-type keys sealed under the current KEK");
    return sealedRows;
  }

  /** Key and IV (16 ASCII characters each) sealed together, bound to their type. */
  private seal(type: string, secret: { aesKey: string; aesIv: string }): SealedSecret {
    return this.options.keys.seal(Buffer.from(secret.aesKey + secret.aesIv, "latin1"), sealContext(type));
  }

  private secretOf(row: ServiceTypeRow): { aesKey: string; aesIv: string } {
    if (row.secret_ciphertext && row.secret_nonce && row.secret_tag && row.secret_kek_id) {
      const sealed = { ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, tag: row.secret_tag, kekId: row.secret_kek_id };
      const plain = this.options.keys.open(sealed, sealContext(row.type)).toString("latin1");
      return { aesKey: plain.slice(0, 16), aesIv: plain.slice(16) };
    }
    if (row.aes_key === null || row.aes_iv === null) throw new Error(`service type ${row.type} has no AES secret`);
    return { aesKey: row.aes_key, aesIv: row.aes_iv };
  }

  private fromRow(row: ServiceTypeRow): ServiceType {
    return {
      type: row.type,
      name: row.name,
      ...this.secretOf(row),
      providerCode: row.provider_code,
      voucherTemplateId: row.voucher_template_id,
      sendChannel: row.send_channel,
      validityDays: row.validity_days,
      strictMac: row.strict_mac,
    };
  }
}

function sealContext(type: string): string {
  return `orders.service_type:${type}`;
}
