// The catalogue's use cases, as the back office runs them: each checks its fields (the rules of fields.ts, again
// here since the RPC can be called without the gateway), checks what it refers to is there and active, writes
// the change and its audit row in one transaction, and answers duplicates by the unique keys' verdict (so two
// racing inserts of one ebuyActivityId make one activity and one DUPLICATE).
import type { Database, Queryable } from "../../common/database.js";
import type {
  CatalogueListFilter,
  ErpConfig,
  InsertActivityRequest,
  InsertSaleChannelRequest,
  InsertSendChannelRequest,
  InsertTemplateRequest,
  ListActivitiesRequest,
  ListSaleChannelsRequest,
  ListSendChannelsRequest,
  ListTemplatesRequest,
  SendChannelConfigInput,
  UpdateActivityRequest,
  UpdateSaleChannelRequest,
  UpdateSendChannelRequest,
  UpdateTemplateRequest,
} from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { VoucherError, voucherError } from "../errors.js";
import type { AuditRecordType, AuditStore } from "./audit-store.js";
import {
  SEND_CHANNEL_TYPES,
  type Activity,
  type CatalogueStore,
  type CatalogueTable,
  type ListFilter,
  type SaleChannel,
  type SendChannel,
  type SendChannelConfig,
  type SendChannelType,
  type SendType,
  type Template,
  type TicketType,
} from "./catalogue-store.js";
import { MAX_LENGTH, optionalText, optionalUrl, requireErpTime, requireFaceValue, requireId, requireText } from "./fields.js";
import { generateWhaleKeyPair, isKeyPair, normalizePrivateKey, normalizePublicKey, type WhaleKeyPair } from "./keys.js";

const invalid = (field: string, rule: string) => voucherError(VoucherError.PARAMETER_INVALID, `${field}: ${rule}`);
const missing = (what: string, id: string) => voucherError(VoucherError.REFERENCE_INVALID, `${what} ${id} does not exist`);
const unusable = (field: string, what: string) => voucherError(VoucherError.REFERENCE_INVALID, `${field}: no active ${what} has that id`);

/** What each unique key's violation means to the ERP. */
const DUPLICATE_OF: Record<string, string> = {
  sale_channel_name_idx: "saleChannelName: a sale channel of that name exists",
  send_channel_name_idx: "sendChannelName: a send channel of that name exists",
  template_product_id_key: "productId: a template for that product exists",
  activity_ebuy_activity_id_key: "ebuyActivityId: an activity for that e-buy activity exists",
};

/** Runs a write; a unique key's violation is DUPLICATE, naming the key. */
async function unlessDuplicate<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const { code, constraint } = (err ?? {}) as { code?: unknown; constraint?: unknown };
    if (code === "23505") {
      throw voucherError(VoucherError.DUPLICATE, (typeof constraint === "string" && DUPLICATE_OF[constraint]) || "a unique key is already used");
    }
    throw err;
  }
}

/** Who changed what, for the audit. */
export interface Actor {
  actor: string;
  action: string;
}

const RECORD_TYPE: Record<CatalogueTable, AuditRecordType> = {
  sale_channel: "sale_channel",
  send_channel: "send_channel",
  template: "template",
  activity: "activity",
};

const RECORD_NAME: Record<CatalogueTable, string> = {
  sale_channel: "sale channel",
  send_channel: "send channel",
  template: "template",
  activity: "activity",
};

function actorOf(actor: string): string {
  if (!/^[\x21-\x7e]{1,64}$/.test(actor)) throw invalid("actor", "must be the calling app id");
  return actor;
}

function configOf(field: string, config: ErpConfig | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const channelPublicKey = optionalText(`${field}.channelPublicKey`, config?.channelPublicKey, MAX_LENGTH.key);
  const whalePublicKey = optionalText(`${field}.whalePublicKey`, config?.whalePublicKey, MAX_LENGTH.key);
  const verifyNotifyURL = optionalUrl(`${field}.verifyNotifyURL`, config?.verifyNotifyUrl);
  if (channelPublicKey !== null) out.channelPublicKey = channelPublicKey;
  if (whalePublicKey !== null) out.whalePublicKey = whalePublicKey;
  if (verifyNotifyURL !== null) out.verifyNotifyURL = verifyNotifyURL;
  return out;
}

export const LIST_PAGE = { default: 100, max: 1000 } as const;

/** A listing's filter, checked: `afterField` is what the back office calls the page's after-id. */
function listFilterOf(filter: CatalogueListFilter | undefined, afterField: string): ListFilter {
  const limit = filter?.limit ?? 0;
  if (!Number.isInteger(limit) || limit < 0 || limit > LIST_PAGE.max) throw invalid("pageSize", `1 to ${LIST_PAGE.max} (absent: ${LIST_PAGE.default})`);
  return {
    isActive: filter?.isActive,
    namePrefix: optionalText("namePrefix", filter?.namePrefix, MAX_LENGTH.name) ?? undefined,
    afterId: filter?.afterId ? requireId(afterField, filter.afterId) : undefined,
    limit: limit || LIST_PAGE.default,
  };
}

function ticketTypeOf(value: number): TicketType {
  if (![1, 2, 3, 4].includes(value)) throw invalid("ticketType", "must be 1, 2, 3 or 4");
  return value as TicketType;
}

function sendTypeOf(value: number): SendType {
  if (value !== 1 && value !== 2) throw invalid("sendType", "must be 1 (接口) or 2 (批导)");
  return value;
}

function validityOf(start: string, end: string): { validStart: Date; validEnd: Date } {
  const validStart = requireErpTime("validStart", start).at;
  const validEnd = requireErpTime("validEnd", end).at;
  if (validEnd <= validStart) throw invalid("validEnd", "must be after validStart");
  return { validStart, validEnd };
}

/** sendChannelConfig's fields given, checked; the key apart (it is sealed). */
function sendChannelConfigOf(input: SendChannelConfigInput | undefined): { type?: SendChannelType; config: SendChannelConfig; orderEncryptKey?: string } {
  const field = (name: string) => `sendChannelConfig.${name}`;
  let type: SendChannelType | undefined;
  if (input?.sendChannelType !== undefined) {
    if (!(SEND_CHANNEL_TYPES as readonly string[]).includes(input.sendChannelType)) throw invalid(field("sendChannelType"), `must be one of ${SEND_CHANNEL_TYPES.join(", ")}`);
    type = input.sendChannelType as SendChannelType;
  }
  if (input?.encryptType !== undefined && input.encryptType !== "3DES" && input.encryptType !== "RSA") throw invalid(field("encryptType"), "must be 3DES or RSA");
  const config: SendChannelConfig = {};
  const set = <K extends keyof SendChannelConfig>(key: K, value: SendChannelConfig[K] | null) => {
    if (value !== null && value !== undefined) config[key] = value;
  };
  set("thirdChannelNo", optionalText(field("thirdChannelNo"), input?.thirdChannelNo, MAX_LENGTH.channelCode));
  set("makeCodeURL", optionalUrl(field("makeCodeURL"), input?.makeCodeUrl));
  set("verifyURL", optionalUrl(field("verifyURL"), input?.verifyUrl));
  set("verifyNotifyURL", optionalUrl(field("verifyNotifyURL"), input?.verifyNotifyUrl));
  set("channelMid", optionalText(field("channelMid"), input?.channelMid, MAX_LENGTH.channelCode));
  set("channelTid", optionalText(field("channelTid"), input?.channelTid, MAX_LENGTH.channelCode));
  set("encryptType", input?.encryptType as SendChannelConfig["encryptType"]);
  return { type, config, orderEncryptKey: input?.orderEncryptKey };
}

/**
 * The orderEncryptKey to seal, by how the ESB encrypts the channel's codes: a 3DES key as given; for RSA WHALE's
 * private key for the channel (PEM or Base64 DER PKCS#8, kept as PKCS#8 PEM), WHALE decrypting the codes and
 * sending the ESB the public half (channels/esb/wire.ts).
 */
function sealableOrderEncryptKey(encryptType: SendChannelConfig["encryptType"], key: string | undefined): string | null {
  const field = "sendChannelConfig.orderEncryptKey";
  if (encryptType !== "RSA" || key === undefined || key === "") return optionalText(field, key, MAX_LENGTH.key);
  if (key.length > MAX_LENGTH.key) throw invalid(field, `must be fewer than ${MAX_LENGTH.key + 1} characters`);
  return normalizePrivateKey(field, key);
}

export interface CatalogueOptions {
  db: Database;
  store: CatalogueStore;
  audit: AuditStore;
}

export class Catalogue {
  constructor(private readonly options: CatalogueOptions) {}

  private get store(): CatalogueStore {
    return this.options.store;
  }

  /** saleChanneInsert: a new sale channel, with WHALE's key pair for it (generated unless the ERP brings one). */
  async insertSaleChannel(req: InsertSaleChannelRequest, by: Actor): Promise<SaleChannel> {
    const actor = actorOf(by.actor);
    const name = requireText("saleChannelName", req.saleChannelName, MAX_LENGTH.name);
    const createTime = requireErpTime("createTime", req.createTime).text;
    const updateTime = requireErpTime("updateTime", req.updateTime).text;
    const channelPublicKey = req.channelPublicKey ? normalizePublicKey("saleChannelConfig.channelPublicKey", req.channelPublicKey) : null;
    const pair = await this.whaleKeyPairOf(req);
    const channel: Omit<SaleChannel, "saleChannelId"> = {
      name,
      isActive: req.isActive,
      remark: optionalText("remark", req.remark, MAX_LENGTH.remark),
      creatorName: optionalText("creatorName", req.creatorName, MAX_LENGTH.user),
      erpCreateTime: createTime,
      erpUpdateTime: updateTime,
      channelPublicKey,
      verifyNotifyUrl: optionalUrl("saleChannelConfig.verifyNotifyURL", req.verifyNotifyUrl),
      whalePublicKey: pair.publicKey,
    };
    return unlessDuplicate(() =>
      this.options.db.transaction(async (tx) => {
        const saleChannelId = await this.store.nextId(tx, "sale_channel");
        const inserted = await this.store.insertSaleChannel(tx, { ...channel, saleChannelId }, pair.privateKey);
        await this.audited(tx, { actor, action: by.action }, "sale_channel", saleChannelId, null, inserted);
        return inserted;
      }),
    );
  }

  private async whaleKeyPairOf(req: InsertSaleChannelRequest): Promise<WhaleKeyPair> {
    const publicGiven = Boolean(req.whalePublicKey);
    const privateGiven = Boolean(req.whalePrivateKey);
    if (!publicGiven && !privateGiven) return generateWhaleKeyPair();
    if (!publicGiven || !privateGiven) {
      throw invalid("saleChannelConfig.whalePublicKey", "give whalePublicKey and whalePrivateKey together, or neither (WHALE then generates the pair)");
    }
    const pair = {
      publicKey: normalizePublicKey("saleChannelConfig.whalePublicKey", req.whalePublicKey!),
      privateKey: normalizePrivateKey("saleChannelConfig.whalePrivateKey", req.whalePrivateKey!),
    };
    if (!isKeyPair(pair)) throw invalid("saleChannelConfig.whalePrivateKey", "is not the private half of whalePublicKey");
    return pair;
  }

  /** sendChanneInsert. */
  async insertSendChannel(req: InsertSendChannelRequest, by: Actor): Promise<SendChannel> {
    const actor = actorOf(by.actor);
    const name = requireText("sendChannelName", req.sendChannelName, MAX_LENGTH.name);
    if (!req.sendChannelConfig) throw invalid("sendChannelConfig", "is required");
    const { type, config, orderEncryptKey: givenKey } = sendChannelConfigOf(req.sendChannelConfig);
    const orderEncryptKey = sealableOrderEncryptKey(config.encryptType, givenKey);
    return unlessDuplicate(() =>
      this.options.db.transaction(async (tx) => {
        const sendChannelId = await this.store.nextId(tx, "send_channel");
        // The seed's send channels make codes through the ESB (ESB制码订单) unless the ERP says otherwise.
        const inserted = await this.store.insertSendChannel(tx, { sendChannelId, name, isActive: req.isActive, channelType: type ?? "ESB", config }, orderEncryptKey);
        await this.audited(tx, { actor, action: by.action }, "send_channel", sendChannelId, null, inserted);
        return inserted;
      }),
    );
  }

  /** templateInsert: its send channel must exist and be active. */
  async insertTemplate(req: InsertTemplateRequest, by: Actor): Promise<Template> {
    const actor = actorOf(by.actor);
    const template: Omit<Template, "templateId"> = {
      name: requireText("templateName", req.templateName, MAX_LENGTH.name),
      sendChannelId: requireId("sendChannelId", req.sendChannelId),
      brandId: requireId("brandId", req.brandId),
      productId: requireId("productId", req.productId),
      ticketType: ticketTypeOf(req.ticketType),
      faceValue: requireFaceValue(req.faceValue),
      sendType: sendTypeOf(req.sendType),
      isActive: req.isActive,
      remark: optionalText("remark", req.remark, MAX_LENGTH.remark),
      createUser: optionalText("createUser", req.createUser, MAX_LENGTH.user),
      erpCreateTime: requireErpTime("createTime", req.createTime).text,
      erpUpdateTime: requireErpTime("updateTime", req.updateTime).text,
      config: configOf("templateConfig", req.templateConfig),
    };
    return unlessDuplicate(() =>
      this.options.db.transaction(async (tx) => {
        if (!(await this.store.isActiveHeld(tx, "send_channel", template.sendChannelId))) throw unusable("sendChannelId", "send channel");
        const inserted = await this.store.insertTemplate(tx, template);
        await this.audited(tx, { actor, action: by.action }, "template", inserted.templateId, null, inserted);
        return inserted;
      }),
    );
  }

  /** activityInsert: its sale channel must exist and be active. */
  async insertActivity(req: InsertActivityRequest, by: Actor): Promise<Activity> {
    const actor = actorOf(by.actor);
    const activity: Omit<Activity, "activityId"> = {
      name: requireText("activityName", req.activityName, MAX_LENGTH.name),
      ebuyActivityId: requireText("ebuyActivityId", req.ebuyActivityId, MAX_LENGTH.ebuyActivityId),
      saleChannelId: requireId("saleChannelId", req.saleChannelId),
      ...validityOf(req.validStart, req.validEnd),
      isActive: req.isActive,
      createUser: optionalText("createUser", req.createUser, MAX_LENGTH.user),
      erpCreateTime: requireErpTime("createTime", req.createTime).text,
      erpUpdateTime: requireErpTime("updateTime", req.updateTime).text,
      config: configOf("activityConfig", req.activityConfig),
    };
    return unlessDuplicate(() =>
      this.options.db.transaction(async (tx) => {
        if (!(await this.store.isActiveHeld(tx, "sale_channel", activity.saleChannelId))) throw unusable("saleChannelId", "sale channel");
        const inserted = await this.store.insertActivity(tx, activity);
        await this.audited(tx, { actor, action: by.action }, "activity", inserted.activityId, null, inserted);
        return inserted;
      }),
    );
  }

  async getSaleChannel(id: string): Promise<SaleChannel> {
    return (await this.store.findSaleChannel(id)) ?? Promise.reject(missing("sale channel", safeId(id)));
  }

  async getSendChannel(id: string): Promise<SendChannel> {
    return (await this.store.findSendChannel(id)) ?? Promise.reject(missing("send channel", safeId(id)));
  }

  async getTemplate(id: string): Promise<Template & { activityIds: string[] }> {
    const template = await this.store.findTemplate(id);
    if (!template) throw missing("template", safeId(id));
    return { ...template, activityIds: await this.store.activitiesOfTemplate(id) };
  }

  async getActivity(id: string): Promise<Activity & { templateIds: string[] }> {
    const activity = await this.store.findActivity(id);
    if (!activity) throw missing("activity", safeId(id));
    return { ...activity, templateIds: (await this.store.templatesOfActivity(id)).map((template) => template.templateId) };
  }

  async listSaleChannels(req: ListSaleChannelsRequest): Promise<SaleChannel[]> {
    return this.store.listSaleChannels(listFilterOf(req.filter, "afterSaleChannelId"));
  }

  async listSendChannels(req: ListSendChannelsRequest): Promise<SendChannel[]> {
    const type = req.sendChannelType;
    if (type && !(SEND_CHANNEL_TYPES as readonly string[]).includes(type)) throw invalid("sendChannelType", `one of ${SEND_CHANNEL_TYPES.join(", ")}`);
    return this.store.listSendChannels({ ...listFilterOf(req.filter, "afterSendChannelId"), channelType: (type || undefined) as SendChannelType | undefined });
  }

  async listTemplates(req: ListTemplatesRequest): Promise<Array<Template & { activityIds: string[] }>> {
    const sendChannelId = req.sendChannelId ? requireId("sendChannelId", req.sendChannelId) : undefined;
    return this.store.listTemplates({ ...listFilterOf(req.filter, "afterTemplateId"), sendChannelId });
  }

  async listActivities(req: ListActivitiesRequest): Promise<Array<Activity & { templateIds: string[] }>> {
    const saleChannelId = req.saleChannelId ? requireId("saleChannelId", req.saleChannelId) : undefined;
    return this.store.listActivities({ ...listFilterOf(req.filter, "afterActivityId"), saleChannelId });
  }

  async updateSaleChannel(req: UpdateSaleChannelRequest, by: Actor): Promise<SaleChannel> {
    const actor = actorOf(by.actor);
    const columns: Record<string, unknown> = { erp_update_time: requireErpTime("updateTime", req.updateTime).text };
    if (req.saleChannelName !== undefined) columns.name = requireText("saleChannelName", req.saleChannelName, MAX_LENGTH.name);
    if (req.remark !== undefined) columns.remark = optionalText("remark", req.remark, MAX_LENGTH.remark);
    if (req.channelPublicKey !== undefined) {
      columns.channel_public_key = req.channelPublicKey === "" ? null : normalizePublicKey("saleChannelConfig.channelPublicKey", req.channelPublicKey);
    }
    if (req.verifyNotifyUrl !== undefined) columns.verify_notify_url = optionalUrl("saleChannelConfig.verifyNotifyURL", req.verifyNotifyUrl);
    return this.update("sale_channel", req.saleChannelId, { actor, action: by.action }, columns, (id, tx) => this.store.findSaleChannel(id, tx));
  }

  async updateSendChannel(req: UpdateSendChannelRequest, by: Actor): Promise<SendChannel> {
    const actor = actorOf(by.actor);
    const id = requireId("sendChannelId", req.sendChannelId);
    const columns: Record<string, unknown> = {};
    if (req.sendChannelName !== undefined) columns.name = requireText("sendChannelName", req.sendChannelName, MAX_LENGTH.name);
    const { type, config, orderEncryptKey: givenKey } = sendChannelConfigOf(req.sendChannelConfig);
    if (type !== undefined) columns.channel_type = type;
    return this.update("send_channel", id, { actor, action: by.action }, columns, (id, tx) => this.store.findSendChannel(id, tx), async (before) => {
      // A new key is read as the encryption the channel will have after the update.
      const orderEncryptKey = sealableOrderEncryptKey(config.encryptType ?? before.config.encryptType, givenKey);
      if (orderEncryptKey !== null) Object.assign(columns, this.store.sealedSendChannelSecret(id, orderEncryptKey));
      if (Object.keys(config).length > 0) columns.config = JSON.stringify({ ...before.config, ...config });
    });
  }

  async updateTemplate(req: UpdateTemplateRequest, by: Actor): Promise<Template> {
    const actor = actorOf(by.actor);
    const columns: Record<string, unknown> = { erp_update_time: requireErpTime("updateTime", req.updateTime).text };
    if (req.templateName !== undefined) columns.name = requireText("templateName", req.templateName, MAX_LENGTH.name);
    const sendChannelId = req.sendChannelId === undefined ? undefined : requireId("sendChannelId", req.sendChannelId);
    if (sendChannelId !== undefined) columns.send_channel_id = sendChannelId;
    if (req.brandId !== undefined) columns.brand_id = requireId("brandId", req.brandId);
    if (req.productId !== undefined) columns.product_id = requireId("productId", req.productId);
    if (req.ticketType !== undefined) columns.ticket_type = ticketTypeOf(req.ticketType);
    if (req.faceValue !== undefined) columns.face_value = requireFaceValue(req.faceValue);
    if (req.sendType !== undefined) columns.send_type = sendTypeOf(req.sendType);
    if (req.remark !== undefined) columns.remark = optionalText("remark", req.remark, MAX_LENGTH.remark);
    if (req.templateConfig !== undefined) columns.config = JSON.stringify(configOf("templateConfig", req.templateConfig));
    return this.update("template", req.templateId, { actor, action: by.action }, columns, (id, tx) => this.store.findTemplate(id, tx), async (_before, tx) => {
      if (sendChannelId !== undefined && !(await this.store.isActiveHeld(tx, "send_channel", sendChannelId))) throw unusable("sendChannelId", "send channel");
    });
  }

  async updateActivity(req: UpdateActivityRequest, by: Actor): Promise<Activity> {
    const actor = actorOf(by.actor);
    const columns: Record<string, unknown> = { erp_update_time: requireErpTime("updateTime", req.updateTime).text };
    if (req.activityName !== undefined) columns.name = requireText("activityName", req.activityName, MAX_LENGTH.name);
    if (req.ebuyActivityId !== undefined) columns.ebuy_activity_id = requireText("ebuyActivityId", req.ebuyActivityId, MAX_LENGTH.ebuyActivityId);
    const saleChannelId = req.saleChannelId === undefined ? undefined : requireId("saleChannelId", req.saleChannelId);
    if (saleChannelId !== undefined) columns.sale_channel_id = saleChannelId;
    const validStart = req.validStart === undefined ? undefined : requireErpTime("validStart", req.validStart).at;
    const validEnd = req.validEnd === undefined ? undefined : requireErpTime("validEnd", req.validEnd).at;
    if (validStart) columns.valid_start = validStart;
    if (validEnd) columns.valid_end = validEnd;
    if (req.activityConfig !== undefined) columns.config = JSON.stringify(configOf("activityConfig", req.activityConfig));
    return this.update("activity", req.activityId, { actor, action: by.action }, columns, (id, tx) => this.store.findActivity(id, tx), async (before, tx) => {
      // The validity as it will be: one end may change alone.
      if ((validEnd ?? before.validEnd) <= (validStart ?? before.validStart)) throw invalid("validEnd", "must be after validStart");
      if (saleChannelId !== undefined && !(await this.store.isActiveHeld(tx, "sale_channel", saleChannelId))) throw unusable("saleChannelId", "sale channel");
    });
  }

  /**
   * The shape of every update: lock the row (REFERENCE_INVALID if there is none), check what depends on its
   * current state, write the given columns, audit before and after.
   */
  private async update<R>(
    table: CatalogueTable,
    id: string,
    by: Actor,
    columns: Record<string, unknown>,
    read: (id: string, tx: Queryable) => Promise<R | undefined>,
    check?: (before: R, tx: Queryable) => Promise<void>,
  ): Promise<R> {
    return unlessDuplicate(() =>
      this.options.db.transaction(async (tx) => {
        if (!(await this.store.lockRow(tx, table, id))) throw missing(RECORD_NAME[table], safeId(id));
        const before = (await read(id, tx))!;
        await check?.(before, tx);
        if (Object.keys(columns).length > 0) await this.store.updateColumns(tx, table, id, columns);
        const after = (await read(id, tx))!;
        await this.audited(tx, by, table, id, before, after);
        return after;
      }),
    );
  }

  /** Enables or disables a record; false (and no audit row) when it already was in that state. */
  async setActive(table: CatalogueTable, id: string, active: boolean, updateTime: string, by: Actor): Promise<boolean> {
    const actor = actorOf(by.actor);
    const columns: Record<string, unknown> = { is_active: active };
    // A send channel has no ERP times (the seed's sendChanneInsert carries none).
    if (table !== "send_channel") columns.erp_update_time = requireErpTime("updateTime", updateTime).text;
    return this.options.db.transaction(async (tx) => {
      if (!(await this.store.lockRow(tx, table, id))) throw missing(RECORD_NAME[table], safeId(id));
      const before = await this.recordOf(table, id, tx);
      if ((before as { isActive: boolean }).isActive === active) return false;
      await this.store.updateColumns(tx, table, id, columns);
      await this.audited(tx, { actor, action: by.action }, table, id, before, await this.recordOf(table, id, tx));
      return true;
    });
  }

  private async recordOf(table: CatalogueTable, id: string, tx: Queryable): Promise<unknown> {
    switch (table) {
      case "sale_channel":
        return this.store.findSaleChannel(id, tx);
      case "send_channel":
        return this.store.findSendChannel(id, tx);
      case "template":
        return this.store.findTemplate(id, tx);
      case "activity":
        return this.store.findActivity(id, tx);
    }
  }

  /** The activity offers the template from now on; both must exist and be active. False when already bound. */
  async bind(activityId: string, templateId: string, by: Actor): Promise<boolean> {
    const actor = actorOf(by.actor);
    requireId("activityId", activityId);
    requireId("templateId", templateId);
    return this.options.db.transaction(async (tx) => {
      if (!(await this.store.isActiveHeld(tx, "activity", activityId))) throw unusable("activityId", "activity");
      if (!(await this.store.isActiveHeld(tx, "template", templateId))) throw unusable("templateId", "template");
      const changed = await this.store.bind(tx, activityId, templateId);
      if (changed) await this.options.audit.record(tx, { actor, action: by.action, recordType: "activity_template", recordId: `${activityId}:${templateId}`, before: null, after: { activityId, templateId } });
      return changed;
    });
  }

  /** The activity no longer offers the template. False when it did not. */
  async unbind(activityId: string, templateId: string, by: Actor): Promise<boolean> {
    const actor = actorOf(by.actor);
    requireId("activityId", activityId);
    requireId("templateId", templateId);
    return this.options.db.transaction(async (tx) => {
      const changed = await this.store.unbind(tx, activityId, templateId);
      if (changed) await this.options.audit.record(tx, { actor, action: by.action, recordType: "activity_template", recordId: `${activityId}:${templateId}`, before: { activityId, templateId }, after: null });
      return changed;
    });
  }

  private async audited(tx: Queryable, by: Actor, table: CatalogueTable, id: string, before: unknown, after: unknown): Promise<void> {
    await this.options.audit.record(tx, { actor: by.actor, action: by.action, recordType: RECORD_TYPE[table], recordId: id, before: before ?? null, after });
  }
}

/** An id fit to quote in a message: the request's own only when it is an id at all. */
function safeId(id: string): string {
  return /^[0-9]{1,18}$/.test(id) ? id : "(not an id)";
}
