import type { Database } from "../common/database.js";
import { domainError, ErrorReason } from "../common/errors.js";

export interface ServiceType {
  type: string;
  name: string;
  aesKey: string;
  aesIv: string;
  providerCode: string;
  voucherTemplateId: string;
  sendChannel: string;
  validityDays: number;
}

interface ServiceTypeRow {
  type: string;
  name: string;
  aes_key: string;
  aes_iv: string;
  provider_code: string;
  voucher_template_id: string;
  send_channel: string;
  validity_days: number;
}

const CACHE_TTL_MS = 30_000;

/**
 * Service types, read on every PSBC call, so they are cached for a short while: a changed key reaches every
 * replica within CACHE_TTL_MS without a restart.
 */
export class ServiceTypes {
  private readonly cache = new Map<string, { value: ServiceType | null; expiresAt: number }>();

  constructor(private readonly db: Database) {}

  /** The service type, or the business error PSBC expects for an unknown one (暂不支持此服务). */
  async require(type: string): Promise<ServiceType> {
    const now = Date.now();
    const cached = this.cache.get(type);
    let value = cached && cached.expiresAt > now ? cached.value : undefined;
    if (value === undefined) {
      const { rows } = await this.db.query<ServiceTypeRow>(
        `SELECT type, name, aes_key, aes_iv, provider_code, voucher_template_id, send_channel, validity_days
           FROM orders.service_type WHERE type = $1`,
        [type],
      );
      value = rows[0] ? fromRow(rows[0]) : null;
      this.cache.set(type, { value, expiresAt: now + CACHE_TTL_MS });
    }
    if (!value) throw domainError(ErrorReason.SERVICE_NOT_SUPPORTED, `service type ${type} is not supported`);
    return value;
  }

  async put(serviceType: ServiceType): Promise<void> {
    await this.db.query(
      `INSERT INTO orders.service_type
         (type, name, aes_key, aes_iv, provider_code, voucher_template_id, send_channel, validity_days)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (type) DO UPDATE SET
         name = EXCLUDED.name, aes_key = EXCLUDED.aes_key, aes_iv = EXCLUDED.aes_iv,
         provider_code = EXCLUDED.provider_code, voucher_template_id = EXCLUDED.voucher_template_id,
         send_channel = EXCLUDED.send_channel, validity_days = EXCLUDED.validity_days, updated_at = now()`,
      [
        serviceType.type,
        serviceType.name,
        serviceType.aesKey,
        serviceType.aesIv,
        serviceType.providerCode,
        serviceType.voucherTemplateId,
        serviceType.sendChannel,
        serviceType.validityDays,
      ],
    );
    this.cache.delete(serviceType.type);
  }
}

function fromRow(row: ServiceTypeRow): ServiceType {
  return {
    type: row.type,
    name: row.name,
    aesKey: row.aes_key,
    aesIv: row.aes_iv,
    providerCode: row.provider_code,
    voucherTemplateId: row.voucher_template_id,
    sendChannel: row.send_channel,
    validityDays: row.validity_days,
  };
}
