import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { formatBusinessTime } from "../../common/clock.js";
import {
  ActivitySchema,
  CatalogueRecord,
  CatalogueService,
  ErpAppSchema,
  ErpConfigSchema,
  SaleChannelSchema,
  SendChannelSchema,
  TemplateSchema,
  type Activity as ActivityMessage,
  type ErpApp as ErpAppMessage,
  type ErpConfig,
  type SaleChannel as SaleChannelMessage,
  type SendChannel as SendChannelMessage,
  type Template as TemplateMessage,
} from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { VoucherError, voucherError } from "../errors.js";
import { AUDIT_PAGE, type AuditStore } from "./audit-store.js";
import type { Catalogue } from "./catalogue.js";
import type { Activity, CatalogueTable, SaleChannel, SendChannel, Template } from "./catalogue-store.js";
import type { ErpApp, ErpApps } from "./erp-apps.js";
import { RECORD_ID } from "./fields.js";
import type { SecretReseal } from "./secret-reseal.js";

const TABLE_OF: Record<CatalogueRecord, CatalogueTable | undefined> = {
  [CatalogueRecord.UNSPECIFIED]: undefined,
  [CatalogueRecord.SALE_CHANNEL]: "sale_channel",
  [CatalogueRecord.SEND_CHANNEL]: "send_channel",
  [CatalogueRecord.TEMPLATE]: "template",
  [CatalogueRecord.ACTIVITY]: "activity",
};

/** The ERP action a change is audited under (the gateway's name for it). */
const SET_ACTIVE_ACTION: Record<CatalogueTable, [enable: string, disable: string]> = {
  sale_channel: ["saleChannelEnable", "saleChannelDisable"],
  send_channel: ["sendChannelEnable", "sendChannelDisable"],
  template: ["templateEnable", "templateDisable"],
  activity: ["activityEnable", "activityDisable"],
};

export function catalogueServiceImpl(
  catalogue: Catalogue,
  apps: ErpApps,
  audit: AuditStore,
  secrets: SecretReseal,
): ServiceImpl<typeof CatalogueService> {
  return {
    async authenticateErpCall(req) {
      return { appId: await apps.authenticate(req) };
    },
    async insertSaleChannel(req) {
      const channel = await catalogue.insertSaleChannel(req, { actor: req.actor, action: "saleChanneInsert" });
      return { saleChannelId: channel.saleChannelId, whalePublicKey: channel.whalePublicKey };
    },
    async insertSendChannel(req) {
      return { sendChannelId: (await catalogue.insertSendChannel(req, { actor: req.actor, action: "sendChanneInsert" })).sendChannelId };
    },
    async insertTemplate(req) {
      return { templateId: (await catalogue.insertTemplate(req, { actor: req.actor, action: "templateInsert" })).templateId };
    },
    async insertActivity(req) {
      return { activityId: (await catalogue.insertActivity(req, { actor: req.actor, action: "activityInsert" })).activityId };
    },
    async getSaleChannel(req) {
      return { saleChannel: saleChannelMessage(await catalogue.getSaleChannel(req.id)) };
    },
    async getSendChannel(req) {
      return { sendChannel: sendChannelMessage(await catalogue.getSendChannel(req.id)) };
    },
    async getTemplate(req) {
      const template = await catalogue.getTemplate(req.id);
      return { template: templateMessage(template, template.activityIds) };
    },
    async getActivity(req) {
      const activity = await catalogue.getActivity(req.id);
      return { activity: activityMessage(activity, activity.templateIds) };
    },
    async listSaleChannels(req) {
      return { saleChannels: (await catalogue.listSaleChannels(req)).map(saleChannelMessage) };
    },
    async listSendChannels(req) {
      return { sendChannels: (await catalogue.listSendChannels(req)).map(sendChannelMessage) };
    },
    async listTemplates(req) {
      return { templates: (await catalogue.listTemplates(req)).map((template) => templateMessage(template, template.activityIds)) };
    },
    async listActivities(req) {
      return { activities: (await catalogue.listActivities(req)).map((activity) => activityMessage(activity, activity.templateIds)) };
    },
    async updateSaleChannel(req) {
      return { saleChannel: saleChannelMessage(await catalogue.updateSaleChannel(req, { actor: req.actor, action: "saleChannelUpdate" })) };
    },
    async updateSendChannel(req) {
      return { sendChannel: sendChannelMessage(await catalogue.updateSendChannel(req, { actor: req.actor, action: "sendChannelUpdate" })) };
    },
    async updateTemplate(req) {
      const template = await catalogue.updateTemplate(req, { actor: req.actor, action: "templateUpdate" });
      return { template: templateMessage(template, (await catalogue.getTemplate(template.templateId)).activityIds) };
    },
    async updateActivity(req) {
      const activity = await catalogue.updateActivity(req, { actor: req.actor, action: "activityUpdate" });
      return { activity: activityMessage(activity, (await catalogue.getActivity(activity.activityId)).templateIds) };
    },
    async setRecordActive(req) {
      const table = TABLE_OF[req.record];
      if (!table) throw voucherError(VoucherError.PARAMETER_INVALID, "record: must be a catalogue record type");
      const action = SET_ACTIVE_ACTION[table][req.active ? 0 : 1];
      return { changed: await catalogue.setActive(table, req.id, req.active, req.updateTime, { actor: req.actor, action }) };
    },
    async bindTemplate(req) {
      return { changed: await catalogue.bind(req.activityId, req.templateId, { actor: req.actor, action: "activityTemplateBind" }) };
    },
    async unbindTemplate(req) {
      return { changed: await catalogue.unbind(req.activityId, req.templateId, { actor: req.actor, action: "activityTemplateUnbind" }) };
    },
    async listAudit(req) {
      if (req.limit < 0 || req.limit > AUDIT_PAGE.max) throw voucherError(VoucherError.PARAMETER_INVALID, `limit: must be 1..${AUDIT_PAGE.max}`);
      if (req.beforeAuditId !== "" && !RECORD_ID.test(req.beforeAuditId)) throw voucherError(VoucherError.PARAMETER_INVALID, "beforeAuditId: must be an audit id");
      if (req.recordType.length > 64 || req.recordId.length > 64) throw voucherError(VoucherError.PARAMETER_INVALID, "recordType, recordId: at most 64 characters");
      const entries = await audit.list({
        recordType: req.recordType || undefined,
        recordId: req.recordId || undefined,
        beforeAuditId: req.beforeAuditId || undefined,
        limit: req.limit || AUDIT_PAGE.default,
      });
      return {
        entries: entries.map((entry) => ({
          auditId: entry.auditId,
          at: timestampFromDate(entry.at),
          actor: entry.actor,
          action: entry.action,
          recordType: entry.recordType,
          recordId: entry.recordId,
          beforeJson: entry.before === null ? "" : JSON.stringify(entry.before),
          afterJson: entry.after === null ? "" : JSON.stringify(entry.after),
        })),
      };
    },
    async putErpApp(req) {
      const { app, secret } = await apps.add(req.appId, req.actions, req.secret);
      return { app: erpAppMessage(app), secret };
    },
    async listErpApps() {
      return { apps: (await apps.list()).map(erpAppMessage) };
    },
    async grantErpActions(req) {
      return { app: erpAppMessage(await apps.grant(req.appId, req.actions)) };
    },
    async revokeErpActions(req) {
      return { app: erpAppMessage(await apps.revoke(req.appId, req.actions)) };
    },
    async rotateErpAppSecret(req) {
      const { app, secret } = await apps.rotate(req.appId, req.secret, req.overlapSeconds === undefined ? undefined : Number(req.overlapSeconds) * 1000);
      return { app: erpAppMessage(app), secret };
    },
    async resealSecrets() {
      return secrets.resealAll();
    },
  };
}

/** The admin RPCs (ADMIN_TOKEN): the apps, their secrets and grants. */
export const CATALOGUE_ADMIN_METHODS = [
  CatalogueService.method.putErpApp,
  CatalogueService.method.listErpApps,
  CatalogueService.method.grantErpActions,
  CatalogueService.method.revokeErpActions,
  CatalogueService.method.rotateErpAppSecret,
  CatalogueService.method.resealSecrets,
];

function configMessage(config: Record<string, string>): ErpConfig {
  return create(ErpConfigSchema, {
    channelPublicKey: config.channelPublicKey,
    whalePublicKey: config.whalePublicKey,
    verifyNotifyUrl: config.verifyNotifyURL,
  });
}

function saleChannelMessage(channel: SaleChannel): SaleChannelMessage {
  return create(SaleChannelSchema, {
    saleChannelId: channel.saleChannelId,
    saleChannelName: channel.name,
    isActive: channel.isActive,
    remark: channel.remark ?? "",
    creatorName: channel.creatorName ?? "",
    createTime: channel.erpCreateTime,
    updateTime: channel.erpUpdateTime,
    channelPublicKey: channel.channelPublicKey ?? "",
    whalePublicKey: channel.whalePublicKey,
    verifyNotifyUrl: channel.verifyNotifyUrl ?? "",
  });
}

function sendChannelMessage(channel: SendChannel): SendChannelMessage {
  const { config } = channel;
  return create(SendChannelSchema, {
    sendChannelId: channel.sendChannelId,
    sendChannelName: channel.name,
    isActive: channel.isActive,
    sendChannelConfig: {
      sendChannelType: channel.channelType,
      thirdChannelNo: config.thirdChannelNo ?? "",
      makeCodeUrl: config.makeCodeURL ?? "",
      verifyUrl: config.verifyURL ?? "",
      verifyNotifyUrl: config.verifyNotifyURL ?? "",
      channelMid: config.channelMid ?? "",
      channelTid: config.channelTid ?? "",
      encryptType: config.encryptType ?? "",
      hasOrderEncryptKey: channel.hasOrderEncryptKey,
    },
  });
}

function templateMessage(template: Template, activityIds: string[]): TemplateMessage {
  return create(TemplateSchema, {
    templateId: template.templateId,
    templateName: template.name,
    sendChannelId: template.sendChannelId,
    brandId: template.brandId,
    productId: template.productId,
    ticketType: template.ticketType,
    faceValue: String(template.faceValue).padStart(12, "0"),
    sendType: template.sendType,
    isActive: template.isActive,
    remark: template.remark ?? "",
    createUser: template.createUser ?? "",
    createTime: template.erpCreateTime,
    updateTime: template.erpUpdateTime,
    templateConfig: configMessage(template.config),
    activityIds,
  });
}

function activityMessage(activity: Activity, templateIds: string[]): ActivityMessage {
  return create(ActivitySchema, {
    activityId: activity.activityId,
    activityName: activity.name,
    ebuyActivityId: activity.ebuyActivityId,
    saleChannelId: activity.saleChannelId,
    validStart: formatBusinessTime(activity.validStart),
    validEnd: formatBusinessTime(activity.validEnd),
    isActive: activity.isActive,
    createUser: activity.createUser ?? "",
    createTime: activity.erpCreateTime,
    updateTime: activity.erpUpdateTime,
    activityConfig: configMessage(activity.config),
    templateIds,
  });
}

function erpAppMessage(app: ErpApp): ErpAppMessage {
  return create(ErpAppSchema, {
    appId: app.appId,
    isActive: app.isActive,
    actions: app.actions,
    createdAt: timestampFromDate(app.createdAt),
    updatedAt: timestampFromDate(app.updatedAt),
    previousSecretUntil: app.previousSecretUntil ? timestampFromDate(app.previousSecretUntil) : undefined,
  });
}
