// The WHALE catalogue's tables (migration 003): sale channels, send channels, templates, activities and which
// templates an activity offers. Ids are decimal strings (bigint identities; never near 2^53, but a string
// never loses a digit on the way through JSON or protobuf).
import type { Queryable } from "../../common/database.js";
import type { KeyRing, SealedSecret } from "../../common/key-ring.js";

export type YesNo = "Y" | "N";

/** A sale channel (取码方), without its private key. */
export interface SaleChannel {
  saleChannelId: string;
  name: string;
  isActive: boolean;
  remark: string | null;
  creatorName: string | null;
  /** The ERP's times, as it sent them (yyyyMMddHHmmss). */
  erpCreateTime: string;
  erpUpdateTime: string;
  /** The channel's public key (Base64 DER SubjectPublicKeyInfo), verifying its make-code requests; null until registered. */
  channelPublicKey: string | null;
  verifyNotifyUrl: string | null;
  /** WHALE's public key for this channel (Base64 DER SPKI): the channel verifies our answers with it. */
  whalePublicKey: string;
}

/** What signing and verifying a channel's calls needs. */
export interface SaleChannelKeys {
  saleChannelId: string;
  isActive: boolean;
  channelPublicKey: string | null;
  whalePublicKey: string;
  /** WHALE's private key for this channel, PKCS#8 PEM, opened from its sealed form. */
  whalePrivateKey: string;
}

export const SEND_CHANNEL_TYPES = ["INTERNAL", "ESB", "BLUE_BROTHERS"] as const;
export type SendChannelType = (typeof SEND_CHANNEL_TYPES)[number];

/** sendChannelConfig as the ERP names its fields, without orderEncryptKey (sealed apart). */
export interface SendChannelConfig {
  thirdChannelNo?: string;
  makeCodeURL?: string;
  verifyURL?: string;
  verifyNotifyURL?: string;
  /** The merchant and terminal numbers the send channel assigned us (ESB). */
  channelMid?: string;
  channelTid?: string;
  /** How orders to the ESB are encrypted: 3DES with orderEncryptKey, or RSA with it as the ESB's public key. */
  encryptType?: "3DES" | "RSA";
}

/** A send channel (制码方). */
export interface SendChannel {
  sendChannelId: string;
  name: string;
  isActive: boolean;
  /** Which adapter makes its codes. */
  channelType: SendChannelType;
  config: SendChannelConfig;
  /** Whether an orderEncryptKey is registered (read it with `sendChannelSecret`). */
  hasOrderEncryptKey: boolean;
}

export type TicketType = 1 | 2 | 3 | 4;
export type SendType = 1 | 2;

/** A voucher template (券模板). */
export interface Template {
  templateId: string;
  name: string;
  sendChannelId: string;
  brandId: string;
  productId: string;
  /** 1 代金券 cash voucher · 2 折抵券 discount · 3 产品抵用券 product voucher · 4 复合产品券 combined product. */
  ticketType: TicketType;
  /** Fen (分). */
  faceValue: number;
  /** 1 made per call (接口) · 2 bulk (批导). */
  sendType: SendType;
  isActive: boolean;
  remark: string | null;
  createUser: string | null;
  erpCreateTime: string;
  erpUpdateTime: string;
  /** templateConfig as the ERP sent it. */
  config: Record<string, string>;
}

/** An activity: what a sale channel sells, for a period, offering templates. */
export interface Activity {
  activityId: string;
  name: string;
  ebuyActivityId: string;
  saleChannelId: string;
  validStart: Date;
  validEnd: Date;
  isActive: boolean;
  createUser: string | null;
  erpCreateTime: string;
  erpUpdateTime: string;
  /** activityConfig as the ERP sent it. */
  config: Record<string, string>;
}

interface SaleChannelRow {
  sale_channel_id: string;
  name: string;
  is_active: boolean;
  remark: string | null;
  creator_name: string | null;
  erp_create_time: string;
  erp_update_time: string;
  channel_public_key: string | null;
  verify_notify_url: string | null;
  whale_public_key: string;
}

interface SaleChannelKeyRow extends SaleChannelRow {
  whale_private_ciphertext: Buffer;
  whale_private_nonce: Buffer;
  whale_private_tag: Buffer;
  whale_private_kek_id: string;
}

interface SendChannelRow {
  send_channel_id: string;
  name: string;
  is_active: boolean;
  channel_type: SendChannelType;
  config: SendChannelConfig;
  has_secret: boolean;
}

interface SealedRow {
  secret_ciphertext: Buffer | null;
  secret_nonce: Buffer | null;
  secret_tag: Buffer | null;
  secret_kek_id: string | null;
}

interface TemplateRow {
  template_id: string;
  name: string;
  send_channel_id: string;
  brand_id: string;
  product_id: string;
  ticket_type: TicketType;
  face_value: number;
  send_type: SendType;
  is_active: boolean;
  remark: string | null;
  create_user: string | null;
  erp_create_time: string;
  erp_update_time: string;
  config: Record<string, string>;
}

interface ActivityRow {
  activity_id: string;
  name: string;
  ebuy_activity_id: string;
  sale_channel_id: string;
  valid_start: Date;
  valid_end: Date;
  is_active: boolean;
  create_user: string | null;
  erp_create_time: string;
  erp_update_time: string;
  config: Record<string, string>;
}

export const SALE_CHANNEL_COLUMNS = `sale_channel_id::text, name, is_active, remark, creator_name, erp_create_time, erp_update_time,
  channel_public_key, verify_notify_url, whale_public_key`;
export const SEND_CHANNEL_COLUMNS = `send_channel_id::text, name, is_active, channel_type, config, secret_ciphertext IS NOT NULL AS has_secret`;
export const TEMPLATE_COLUMNS = `template_id::text, name, send_channel_id::text, brand_id::text, product_id::text, ticket_type, face_value,
  send_type, is_active, remark, create_user, erp_create_time, erp_update_time, config`;
export const ACTIVITY_COLUMNS = `activity_id::text, name, ebuy_activity_id, sale_channel_id::text, valid_start, valid_end, is_active,
  create_user, erp_create_time, erp_update_time, config`;

/** An id as the tables hold it: 1–18 digits, no leading zero (anything else names no record). */
export const RECORD_ID = /^[1-9][0-9]{0,17}$/;

/** Where a sealed secret of a row is bound (AES-GCM associated data), so it opens only in its own row. */
export const sealContext = {
  saleChannel: (id: string) => `vouchers.sale_channel:${id}:whale_private_key`,
  sendChannel: (id: string) => `vouchers.send_channel:${id}:order_encrypt_key`,
  erpApp: (appId: string) => `vouchers.erp_app:${appId}:secret`,
};

/** The catalogue's reads: what make-code and the back office look up. */
export class CatalogueStore {
  constructor(
    protected readonly db: Queryable,
    protected readonly keys: KeyRing,
  ) {}

  async findSaleChannel(saleChannelId: string, on: Queryable = this.db): Promise<SaleChannel | undefined> {
    if (!RECORD_ID.test(saleChannelId)) return undefined;
    const { rows } = await on.query<SaleChannelRow>(`SELECT ${SALE_CHANNEL_COLUMNS} FROM vouchers.sale_channel WHERE sale_channel_id = $1`, [
      saleChannelId,
    ]);
    return rows[0] && saleChannelOf(rows[0]);
  }

  /** The keys that sign and verify a sale channel's calls; WHALE's private key opened. */
  async findSaleChannelKeys(saleChannelId: string): Promise<SaleChannelKeys | undefined> {
    if (!RECORD_ID.test(saleChannelId)) return undefined;
    const { rows } = await this.db.query<SaleChannelKeyRow>(
      `SELECT ${SALE_CHANNEL_COLUMNS}, whale_private_ciphertext, whale_private_nonce, whale_private_tag, whale_private_kek_id
         FROM vouchers.sale_channel WHERE sale_channel_id = $1`,
      [saleChannelId],
    );
    const row = rows[0];
    if (!row) return undefined;
    const sealed: SealedSecret = {
      ciphertext: row.whale_private_ciphertext,
      nonce: row.whale_private_nonce,
      tag: row.whale_private_tag,
      kekId: row.whale_private_kek_id,
    };
    return {
      saleChannelId: row.sale_channel_id,
      isActive: row.is_active,
      channelPublicKey: row.channel_public_key,
      whalePublicKey: row.whale_public_key,
      whalePrivateKey: this.keys.open(sealed, sealContext.saleChannel(row.sale_channel_id)).toString("utf8"),
    };
  }

  async findSendChannel(sendChannelId: string, on: Queryable = this.db): Promise<SendChannel | undefined> {
    if (!RECORD_ID.test(sendChannelId)) return undefined;
    const { rows } = await on.query<SendChannelRow>(`SELECT ${SEND_CHANNEL_COLUMNS} FROM vouchers.send_channel WHERE send_channel_id = $1`, [
      sendChannelId,
    ]);
    return rows[0] && sendChannelOf(rows[0]);
  }

  /** The send channel's orderEncryptKey, opened; null when none is registered (or no such channel). */
  async sendChannelSecret(sendChannelId: string): Promise<string | null> {
    if (!RECORD_ID.test(sendChannelId)) return null;
    const { rows } = await this.db.query<SealedRow>(
      `SELECT secret_ciphertext, secret_nonce, secret_tag, secret_kek_id FROM vouchers.send_channel WHERE send_channel_id = $1`,
      [sendChannelId],
    );
    const row = rows[0];
    if (!row?.secret_ciphertext || !row.secret_nonce || !row.secret_tag || !row.secret_kek_id) return null;
    const sealed = { ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, tag: row.secret_tag, kekId: row.secret_kek_id };
    return this.keys.open(sealed, sealContext.sendChannel(sendChannelId)).toString("utf8");
  }

  async findTemplate(templateId: string, on: Queryable = this.db): Promise<Template | undefined> {
    if (!RECORD_ID.test(templateId)) return undefined;
    const { rows } = await on.query<TemplateRow>(`SELECT ${TEMPLATE_COLUMNS} FROM vouchers.template WHERE template_id = $1`, [templateId]);
    return rows[0] && templateOf(rows[0]);
  }

  async findActivity(activityId: string, on: Queryable = this.db): Promise<Activity | undefined> {
    if (!RECORD_ID.test(activityId)) return undefined;
    const { rows } = await on.query<ActivityRow>(`SELECT ${ACTIVITY_COLUMNS} FROM vouchers.activity WHERE activity_id = $1`, [activityId]);
    return rows[0] && activityOf(rows[0]);
  }

  /** Whether the activity offers the template (they are bound), whatever either's isActive. */
  async activityOffersTemplate(activityId: string, templateId: string, on: Queryable = this.db): Promise<boolean> {
    if (!RECORD_ID.test(activityId) || !RECORD_ID.test(templateId)) return false;
    const { rowCount } = await on.query(`SELECT 1 FROM vouchers.activity_template WHERE activity_id = $1 AND template_id = $2`, [
      activityId,
      templateId,
    ]);
    return rowCount > 0;
  }

  /** The templates an activity offers, by id. */
  async templatesOfActivity(activityId: string, on: Queryable = this.db): Promise<Template[]> {
    if (!RECORD_ID.test(activityId)) return [];
    const { rows } = await on.query<TemplateRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM vouchers.template
        WHERE template_id IN (SELECT template_id FROM vouchers.activity_template WHERE activity_id = $1) ORDER BY template_id`,
      [activityId],
    );
    return rows.map(templateOf);
  }
}

export function saleChannelOf(row: SaleChannelRow): SaleChannel {
  return {
    saleChannelId: row.sale_channel_id,
    name: row.name,
    isActive: row.is_active,
    remark: row.remark,
    creatorName: row.creator_name,
    erpCreateTime: row.erp_create_time,
    erpUpdateTime: row.erp_update_time,
    channelPublicKey: row.channel_public_key,
    verifyNotifyUrl: row.verify_notify_url,
    whalePublicKey: row.whale_public_key,
  };
}

export function sendChannelOf(row: SendChannelRow): SendChannel {
  return {
    sendChannelId: row.send_channel_id,
    name: row.name,
    isActive: row.is_active,
    channelType: row.channel_type,
    config: row.config,
    hasOrderEncryptKey: row.has_secret,
  };
}

export function templateOf(row: TemplateRow): Template {
  return {
    templateId: row.template_id,
    name: row.name,
    sendChannelId: row.send_channel_id,
    brandId: row.brand_id,
    productId: row.product_id,
    ticketType: row.ticket_type,
    faceValue: Number(row.face_value),
    sendType: row.send_type,
    isActive: row.is_active,
    remark: row.remark,
    createUser: row.create_user,
    erpCreateTime: row.erp_create_time,
    erpUpdateTime: row.erp_update_time,
    config: row.config,
  };
}

export function activityOf(row: ActivityRow): Activity {
  return {
    activityId: row.activity_id,
    name: row.name,
    ebuyActivityId: row.ebuy_activity_id,
    saleChannelId: row.sale_channel_id,
    validStart: new Date(row.valid_start),
    validEnd: new Date(row.valid_end),
    isActive: row.is_active,
    createUser: row.create_user,
    erpCreateTime: row.erp_create_time,
    erpUpdateTime: row.erp_update_time,
    config: row.config,
  };
}
