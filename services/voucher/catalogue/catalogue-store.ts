// The WHALE catalogue's tables (migration 003): sale channels, send channels, templates, activities and which
// templates an activity offers. Ids are decimal strings (bigint identities; never near 2^53, but a string
// never loses a digit on the way through JSON or protobuf).
import { batchedLookup } from "../../common/batched-lookup.js";
import type { Queryable } from "../../common/database.js";
import type { KeyRing, SealedSecret } from "../../common/key-ring.js";
import { RECORD_ID } from "./fields.js";
import { LIMIT_RULE_KEYS, MAKE_CODE_SCENE, MAKE_CODE_SUBJECT_KEYS, type LimitRule, type MakeCodeSubjectKey } from "../rules/quota-gate.js";
import { applicableRules, RULE_EXECUTION_ORDER } from "../rules/rule-store.js";

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
  /**
   * How the ESB encrypts the codes it answers: 3DES with orderEncryptKey as the shared key, or RSA-OAEP to WHALE's
   * public key, orderEncryptKey then being WHALE's private key for the channel (its public half is what the ESB
   * is sent as the seed's "public key string"; channels/esb/wire.ts).
   */
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
  /** Whether an orderEncryptKey is registered (read it with `CatalogueStore.sendChannelSecret`). */
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

/** The catalogue records a make-code of one template for one sale channel rests on (`findOffer`). */
export interface Offer {
  saleChannel?: SaleChannel;
  template?: Template;
  sendChannel?: SendChannel;
  activity?: Activity;
  /** The make-code limit rules of these sale channel, activity and template, in execution order (the quota gate's). */
  limitRules: LimitRule[];
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
  /** A Date from pg, ISO text inside row_to_json. */
  valid_start: Date | string;
  valid_end: Date | string;
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

/** What a listing filters and pages by: its values checked by the use case. */
export interface ListFilter {
  isActive?: boolean;
  namePrefix?: string;
  /** Records after this id (keyset paging). */
  afterId?: string;
  limit: number;
}

interface RelatedIds {
  /** The ids bound to the row (activity_template), null for none. */
  related_ids: string[] | null;
}

/** Where a sealed secret of a row is bound (AES-GCM associated data), so it opens only in its own row. */
export const sealContext = {
  saleChannel: (id: string) => `vouchers.sale_channel:${id}:whale_private_key`,
  sendChannel: (id: string) => `vouchers.send_channel:${id}:order_encrypt_key`,
  erpApp: (appId: string) => `vouchers.erp_app:${appId}:secret`,
  /** The secret a rotation replaced, while it still verifies (migration 008). */
  erpAppPrevious: (appId: string) => `vouchers.erp_app:${appId}:previous_secret`,
};

/** The catalogue's reads: what make-code and the back office look up. */
export class CatalogueStore {
  private readonly byName: (name: string) => Promise<SaleChannelRow | undefined>;

  constructor(
    protected readonly db: Queryable,
    protected readonly keys: KeyRing,
  ) {
    this.byName = batchedLookup((names) => saleChannelsNamed(names, db), (row) => row.name);
  }

  async findSaleChannel(saleChannelId: string, on: Queryable = this.db): Promise<SaleChannel | undefined> {
    if (!RECORD_ID.test(saleChannelId)) return undefined;
    const { rows } = await on.query<SaleChannelRow>(`SELECT ${SALE_CHANNEL_COLUMNS} FROM vouchers.sale_channel WHERE sale_channel_id = $1`, [
      saleChannelId,
    ]);
    return rows[0] && saleChannelOf(rows[0]);
  }

  /**
   * The sale channel of a name (names are unique): how a sale channel of our own, PSBC's, is found, on every PSBC
   * booking; the lookups of one event-loop turn share a statement.
   */
  async findSaleChannelByName(name: string, on: Queryable = this.db): Promise<SaleChannel | undefined> {
    const row = on === this.db ? await this.byName(name) : (await saleChannelsNamed([name], on))[0];
    return row && saleChannelOf(row);
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

  /**
   * What a make-code of the template for the sale channel at `at` rests on, in one statement (a round trip per
   * record was most of a PSBC booking's voucher time): the sale channel, the template, the template's send
   * channel, and the sale channel's active activity offering the template then (the earliest made when several
   * do). Each is undefined when missing; whether it may be used is the caller's to judge.
   */
  async findOffer(saleChannelId: string, templateId: string, at: Date): Promise<Offer> {
    if (!RECORD_ID.test(saleChannelId) || !RECORD_ID.test(templateId)) return { limitRules: [] };
    // row_to_json keeps each record's own column list and names; only the activity's timestamps arrive as text.
    // The quota gate's rules ride along (they concern the activity found here), so a make-code reads once.
    // The ids as text, as rules hold them ($1 and $2 are the tables' bigints).
    const subjectIds: Record<MakeCodeSubjectKey, string> = { saleChannel: "$7::text", activity: "(SELECT activity_id FROM offered_activity)", template: "$8::text" };
    const { rows } = await this.db.query<{
      sale_channel: SaleChannelRow | null;
      template: TemplateRow | null;
      send_channel: SendChannelRow | null;
      activity: ActivityRow | null;
      limit_rules: LimitRule[] | null;
    }>(
      `WITH offered_activity AS (
         SELECT ${ACTIVITY_COLUMNS} FROM vouchers.activity a
          WHERE a.sale_channel_id = $1 AND a.is_active AND a.valid_start <= $3 AND a.valid_end > $3
            AND EXISTS (SELECT 1 FROM vouchers.activity_template t WHERE t.activity_id = a.activity_id AND t.template_id = $2)
          ORDER BY a.activity_id LIMIT 1)
       SELECT (SELECT row_to_json(r) FROM (SELECT ${SALE_CHANNEL_COLUMNS} FROM vouchers.sale_channel WHERE sale_channel_id = $1) r) AS sale_channel,
              (SELECT row_to_json(r) FROM (SELECT ${TEMPLATE_COLUMNS} FROM vouchers.template WHERE template_id = $2) r) AS template,
              (SELECT row_to_json(r) FROM (SELECT ${SEND_CHANNEL_COLUMNS} FROM vouchers.send_channel
                 WHERE send_channel_id = (SELECT send_channel_id FROM vouchers.template WHERE template_id = $2)) r) AS send_channel,
              (SELECT row_to_json(r) FROM offered_activity r) AS activity,
              (SELECT json_agg(json_build_object('ruleId', r.rule_id, 'definition', v.definition) ORDER BY ${RULE_EXECUTION_ORDER})
                 ${applicableRules({ scene: "$4", sceneKeys: "$5::text[]", sceneItemKeys: `ARRAY[${MAKE_CODE_SUBJECT_KEYS.map((key) => subjectIds[key]).join(", ")}]`, ruleKeys: "$6::text[]", at: "$3" })}) AS limit_rules`,
      [saleChannelId, templateId, at, MAKE_CODE_SCENE, [...MAKE_CODE_SUBJECT_KEYS], [...LIMIT_RULE_KEYS], saleChannelId, templateId],
    );
    const row = rows[0];
    return {
      saleChannel: row?.sale_channel ? saleChannelOf(row.sale_channel) : undefined,
      template: row?.template ? templateOf(row.template) : undefined,
      sendChannel: row?.send_channel ? sendChannelOf(row.send_channel) : undefined,
      activity: row?.activity ? activityOf(row.activity) : undefined,
      limitRules: row?.limit_rules ?? [],
    };
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

  /** The templates an activity offers, by id (the bigint column, qualified: a bare name is the text output column). */
  async templatesOfActivity(activityId: string, on: Queryable = this.db): Promise<Template[]> {
    if (!RECORD_ID.test(activityId)) return [];
    const { rows } = await on.query<TemplateRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM vouchers.template
        WHERE template_id IN (SELECT template_id FROM vouchers.activity_template WHERE activity_id = $1) ORDER BY template.template_id`,
      [activityId],
    );
    return rows.map(templateOf);
  }

  /** The activities offering a template, by id. */
  async activitiesOfTemplate(templateId: string, on: Queryable = this.db): Promise<string[]> {
    if (!RECORD_ID.test(templateId)) return [];
    const { rows } = await on.query<{ activity_id: string }>(
      `SELECT activity_id::text FROM vouchers.activity_template WHERE template_id = $1 ORDER BY activity_template.activity_id`,
      [templateId],
    );
    return rows.map((row) => row.activity_id);
  }

  // Listings: by id, a keyset page at a time, filtered (the use case has checked the filter's values).

  async listSaleChannels(filter: ListFilter): Promise<SaleChannel[]> {
    return (await this.listRows<SaleChannelRow>("sale_channel", SALE_CHANNEL_COLUMNS, filter)).map(saleChannelOf);
  }

  async listSendChannels(filter: ListFilter & { channelType?: SendChannelType }): Promise<SendChannel[]> {
    const extra: Record<string, string> = filter.channelType ? { channel_type: filter.channelType } : {};
    return (await this.listRows<SendChannelRow>("send_channel", SEND_CHANNEL_COLUMNS, filter, extra)).map(sendChannelOf);
  }

  /** Each with the activities offering it. */
  async listTemplates(filter: ListFilter & { sendChannelId?: string }): Promise<Array<Template & { activityIds: string[] }>> {
    const related = `(SELECT array_agg(b.activity_id::text ORDER BY b.activity_id) FROM vouchers.activity_template b WHERE b.template_id = r.template_id) AS related_ids`;
    const rows = await this.listRows<TemplateRow & RelatedIds>("template", `${TEMPLATE_COLUMNS}, ${related}`, filter, filter.sendChannelId ? { send_channel_id: filter.sendChannelId } : {});
    return rows.map((row) => ({ ...templateOf(row), activityIds: row.related_ids ?? [] }));
  }

  /** Each with the templates it offers. */
  async listActivities(filter: ListFilter & { saleChannelId?: string }): Promise<Array<Activity & { templateIds: string[] }>> {
    const related = `(SELECT array_agg(b.template_id::text ORDER BY b.template_id) FROM vouchers.activity_template b WHERE b.activity_id = r.activity_id) AS related_ids`;
    const rows = await this.listRows<ActivityRow & RelatedIds>("activity", `${ACTIVITY_COLUMNS}, ${related}`, filter, filter.saleChannelId ? { sale_channel_id: filter.saleChannelId } : {});
    return rows.map((row) => ({ ...activityOf(row), templateIds: row.related_ids ?? [] }));
  }

  private async listRows<R extends object>(table: CatalogueTable, columns: string, filter: ListFilter, equal: Record<string, string> = {}): Promise<R[]> {
    const id = ID_COLUMN[table];
    const params: unknown[] = [];
    const conditions: string[] = [];
    if (filter.isActive !== undefined) conditions.push(`r.is_active = $${params.push(filter.isActive)}`);
    if (filter.namePrefix) conditions.push(`starts_with(r.name, $${params.push(filter.namePrefix)})`);
    if (filter.afterId) conditions.push(`r.${id} > $${params.push(filter.afterId)}::bigint`);
    for (const [column, value] of Object.entries(equal)) conditions.push(`r.${column} = $${params.push(value)}`);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    const { rows } = await this.db.query<R>(`SELECT ${columns} FROM vouchers.${table} r ${where} ORDER BY r.${id} LIMIT $${params.push(filter.limit)}`, params);
    return rows;
  }

  // Writes: each runs in the caller's transaction (`tx`), which also writes the change's audit row.

  /** A new id of a table, taken before the row is written, so a secret can be sealed bound to it. */
  async nextId(tx: Queryable, table: CatalogueTable): Promise<string> {
    const { rows } = await tx.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence($1, $2))::text AS id`, [
      `vouchers.${table}`,
      ID_COLUMN[table],
    ]);
    return rows[0]!.id;
  }

  async insertSaleChannel(tx: Queryable, channel: SaleChannel, whalePrivateKey: string): Promise<SaleChannel> {
    const sealed = this.keys.seal(Buffer.from(whalePrivateKey, "utf8"), sealContext.saleChannel(channel.saleChannelId));
    const { rows } = await tx.query<SaleChannelRow>(
      `INSERT INTO vouchers.sale_channel (sale_channel_id, name, is_active, remark, creator_name, erp_create_time, erp_update_time,
         channel_public_key, verify_notify_url, whale_public_key, whale_private_ciphertext, whale_private_nonce, whale_private_tag,
         whale_private_kek_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ${SALE_CHANNEL_COLUMNS}`,
      [
        channel.saleChannelId,
        channel.name,
        channel.isActive,
        channel.remark,
        channel.creatorName,
        channel.erpCreateTime,
        channel.erpUpdateTime,
        channel.channelPublicKey,
        channel.verifyNotifyUrl,
        channel.whalePublicKey,
        sealed.ciphertext,
        sealed.nonce,
        sealed.tag,
        sealed.kekId,
      ],
    );
    return saleChannelOf(rows[0]!);
  }

  async insertSendChannel(tx: Queryable, channel: Omit<SendChannel, "hasOrderEncryptKey">, orderEncryptKey: string | null): Promise<SendChannel> {
    const sealed = orderEncryptKey === null ? null : this.keys.seal(Buffer.from(orderEncryptKey, "utf8"), sealContext.sendChannel(channel.sendChannelId));
    const { rows } = await tx.query<SendChannelRow>(
      `INSERT INTO vouchers.send_channel (send_channel_id, name, is_active, channel_type, config, secret_ciphertext, secret_nonce, secret_tag, secret_kek_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${SEND_CHANNEL_COLUMNS}`,
      [
        channel.sendChannelId,
        channel.name,
        channel.isActive,
        channel.channelType,
        JSON.stringify(channel.config),
        sealed?.ciphertext ?? null,
        sealed?.nonce ?? null,
        sealed?.tag ?? null,
        sealed?.kekId ?? null,
      ],
    );
    return sendChannelOf(rows[0]!);
  }

  /** A new template, its id from the identity unless given (the sandbox PSBC offer's well-known one). */
  async insertTemplate(tx: Queryable, template: Omit<Template, "templateId">, templateId?: string): Promise<Template> {
    const { rows } = await tx.query<TemplateRow>(
      `INSERT INTO vouchers.template (template_id, name, send_channel_id, brand_id, product_id, ticket_type, face_value, send_type, is_active,
         remark, create_user, erp_create_time, erp_update_time, config)
       VALUES (COALESCE($14::bigint, nextval(pg_get_serial_sequence('vouchers.template', 'template_id'))), $1, $2, $3, $4, $5, $6, $7, $8,
         $9, $10, $11, $12, $13) RETURNING ${TEMPLATE_COLUMNS}`,
      [
        template.name,
        template.sendChannelId,
        template.brandId,
        template.productId,
        template.ticketType,
        template.faceValue,
        template.sendType,
        template.isActive,
        template.remark,
        template.createUser,
        template.erpCreateTime,
        template.erpUpdateTime,
        JSON.stringify(template.config),
        templateId ?? null,
      ],
    );
    return templateOf(rows[0]!);
  }

  async insertActivity(tx: Queryable, activity: Omit<Activity, "activityId">): Promise<Activity> {
    const { rows } = await tx.query<ActivityRow>(
      `INSERT INTO vouchers.activity (name, ebuy_activity_id, sale_channel_id, valid_start, valid_end, is_active, create_user,
         erp_create_time, erp_update_time, config)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${ACTIVITY_COLUMNS}`,
      [
        activity.name,
        activity.ebuyActivityId,
        activity.saleChannelId,
        activity.validStart,
        activity.validEnd,
        activity.isActive,
        activity.createUser,
        activity.erpCreateTime,
        activity.erpUpdateTime,
        JSON.stringify(activity.config),
      ],
    );
    return activityOf(rows[0]!);
  }

  /** The row, locked for the rest of the transaction (an update or a state change reads, then writes it). */
  async lockRow(tx: Queryable, table: CatalogueTable, id: string): Promise<boolean> {
    if (!RECORD_ID.test(id)) return false;
    const { rowCount } = await tx.query(`SELECT 1 FROM vouchers.${table} WHERE ${ID_COLUMN[table]} = $1 FOR UPDATE`, [id]);
    return rowCount > 0;
  }

  /** Whether a referenced row exists and is active, holding it (FOR SHARE) so it cannot be disabled meanwhile. */
  async isActiveHeld(tx: Queryable, table: CatalogueTable, id: string): Promise<boolean> {
    if (!RECORD_ID.test(id)) return false;
    const { rows } = await tx.query<{ is_active: boolean }>(`SELECT is_active FROM vouchers.${table} WHERE ${ID_COLUMN[table]} = $1 FOR SHARE`, [id]);
    return rows[0]?.is_active === true;
  }

  /**
   * Sets the given columns of one row (names from the caller's code, never from a request) and its updated_at;
   * a sealed secret column set goes through `sealedColumns`.
   */
  async updateColumns(tx: Queryable, table: CatalogueTable, id: string, columns: Record<string, unknown>): Promise<void> {
    const names = Object.keys(columns);
    for (const name of names) if (!/^[a-z_]+$/.test(name)) throw new Error(`not a column name: ${name}`);
    const assignments = names.map((name, i) => `${name} = $${i + 2}`);
    await tx.query(`UPDATE vouchers.${table} SET ${[...assignments, "updated_at = now()"].join(", ")} WHERE ${ID_COLUMN[table]} = $1`, [
      id,
      ...names.map((name) => columns[name]),
    ]);
  }

  /** The send channel's orderEncryptKey columns for a new key. */
  sealedSendChannelSecret(sendChannelId: string, orderEncryptKey: string): Record<string, unknown> {
    const sealed = this.keys.seal(Buffer.from(orderEncryptKey, "utf8"), sealContext.sendChannel(sendChannelId));
    return { secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, secret_tag: sealed.tag, secret_kek_id: sealed.kekId };
  }

  /** Binds a template to an activity; false when it already was. */
  async bind(tx: Queryable, activityId: string, templateId: string): Promise<boolean> {
    const { rowCount } = await tx.query(
      `INSERT INTO vouchers.activity_template (activity_id, template_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [activityId, templateId],
    );
    return rowCount > 0;
  }

  /** Unbinds; false when it was not bound. */
  async unbind(tx: Queryable, activityId: string, templateId: string): Promise<boolean> {
    if (!RECORD_ID.test(activityId) || !RECORD_ID.test(templateId)) return false;
    const { rowCount } = await tx.query(`DELETE FROM vouchers.activity_template WHERE activity_id = $1 AND template_id = $2`, [activityId, templateId]);
    return rowCount > 0;
  }
}

export type CatalogueTable = "sale_channel" | "send_channel" | "template" | "activity";

const ID_COLUMN: Record<CatalogueTable, string> = {
  sale_channel: "sale_channel_id",
  send_channel: "send_channel_id",
  template: "template_id",
  activity: "activity_id",
};

async function saleChannelsNamed(names: readonly string[], on: Queryable): Promise<SaleChannelRow[]> {
  return (await on.query<SaleChannelRow>(`SELECT ${SALE_CHANNEL_COLUMNS} FROM vouchers.sale_channel WHERE name = ANY($1::text[])`, [names])).rows;
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
