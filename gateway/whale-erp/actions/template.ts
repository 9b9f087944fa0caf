import { Type } from "typebox";
import { CatalogueRecord, CatalogueService, type Template } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { MAX_LENGTH } from "../../../services/voucher/catalogue/fields.js";
import { erpAction } from "../action.js";
import { LIST_FIELDS, listFilterOf, listSummary } from "./listing.js";
import { body, ErpConfig, erpTime, faceValue, longId, optionalText, sendType, text, ticketType, yesNo } from "../schemas.js";
import { activeSwitch, isActiveOf, yesNoOf } from "./active-switch.js";
import { configInputOf, configViewOf, ErpConfigView } from "./erp-config.js";

const TAG = "券模板";

const TemplateView = Type.Object({
  templateId: Type.Integer(),
  templateName: Type.String(),
  sendChannelId: Type.Integer(),
  brandId: Type.Integer(),
  productId: Type.Integer(),
  ticketType: Type.Integer(),
  faceValue: Type.String(),
  sendType: Type.String(),
  isActive: Type.Union([Type.Literal("Y"), Type.Literal("N")]),
  remark: Type.String(),
  createUser: Type.String(),
  createTime: Type.String(),
  updateTime: Type.String(),
  templateConfig: ErpConfigView,
  activityIds: Type.Array(Type.String(), { description: "the activities offering it" }),
});

function viewOf(template: Template | undefined) {
  if (!template) throw new Error("the catalogue answered no template");
  return {
    templateId: Number(template.templateId),
    templateName: template.templateName,
    sendChannelId: Number(template.sendChannelId),
    brandId: Number(template.brandId),
    productId: Number(template.productId),
    ticketType: template.ticketType,
    faceValue: template.faceValue,
    sendType: String(template.sendType),
    isActive: yesNoOf(template.isActive),
    remark: template.remark,
    createUser: template.createUser,
    createTime: template.createTime,
    updateTime: template.updateTime,
    templateConfig: configViewOf(template.templateConfig),
    activityIds: template.activityIds,
  };
}

const templateId = longId("templateId");
const templateName = text(MAX_LENGTH.name, "1–99 characters (the seed gives no bound; WHALE's, like the other names)");

/** 新增券模板接口. */
export const templateInsert = erpAction({
  name: "templateInsert",
  summary: "新增券模板接口: a new voucher template (one per e-buy productId) of an active send channel; answers its templateId",
  tag: TAG,
  body: body({
    templateName,
    sendChannelId: longId("sendChannelId"),
    brandId: longId("brandId"),
    productId: longId("productId"),
    ticketType,
    faceValue,
    sendType,
    isActive: yesNo,
    remark: optionalText(MAX_LENGTH.remark, `fewer than ${MAX_LENGTH.remark + 1} characters`),
    createUser: optionalText(MAX_LENGTH.user, `fewer than ${MAX_LENGTH.user + 1} characters`),
    createTime: erpTime("createTime"),
    updateTime: erpTime("updateTime"),
    templateConfig: Type.Optional(ErpConfig),
  }),
  answer: Type.Object({ templateId: Type.Integer({ description: "the new template's id (Long: makeCode's ticketId)" }) }),
  async call({ body, appId, client, callOptions }) {
    const { templateId } = await client(CatalogueService).insertTemplate(
      {
        actor: appId,
        templateName: body.templateName,
        sendChannelId: String(body.sendChannelId),
        brandId: String(body.brandId),
        productId: String(body.productId),
        ticketType: body.ticketType,
        faceValue: body.faceValue,
        sendType: Number(body.sendType),
        isActive: isActiveOf(body.isActive),
        remark: body.remark,
        createUser: body.createUser,
        createTime: body.createTime,
        updateTime: body.updateTime,
        templateConfig: configInputOf(body.templateConfig),
      },
      callOptions,
    );
    return { templateId: Number(templateId) };
  },
});

export const templateQuery = erpAction({
  name: "templateQuery",
  summary: "券模板查询: one template by id, with the activities offering it",
  tag: TAG,
  body: body({ templateId }),
  answer: TemplateView,
  async call({ body, client, callOptions }) {
    return viewOf((await client(CatalogueService).getTemplate({ id: String(body.templateId) }, callOptions)).template);
  },
});

export const templateList = erpAction({
  name: "templateList",
  summary: `券模板列表: ${listSummary("templates, each with the activities offering it,")}`,
  tag: TAG,
  body: body({ ...LIST_FIELDS, sendChannelId: Type.Optional(longId("sendChannelId: only templates of this send channel")), afterTemplateId: Type.Optional(templateId) }),
  answer: Type.Object({ templates: Type.Array(TemplateView) }),
  async call({ body, client, callOptions }) {
    const { templates } = await client(CatalogueService).listTemplates(
      { filter: listFilterOf(body, body.afterTemplateId), sendChannelId: body.sendChannelId === undefined ? "" : String(body.sendChannelId) },
      callOptions,
    );
    return { templates: templates.map(viewOf) };
  },
});

export const templateUpdate = erpAction({
  name: "templateUpdate",
  summary: "券模板修改: changes the fields given (templateConfig replaced whole); answers the template as it now is",
  tag: TAG,
  body: body({
    templateId,
    updateTime: erpTime("updateTime"),
    templateName: Type.Optional(templateName),
    sendChannelId: Type.Optional(longId("sendChannelId")),
    brandId: Type.Optional(longId("brandId")),
    productId: Type.Optional(longId("productId")),
    ticketType: Type.Optional(ticketType),
    faceValue: Type.Optional(faceValue),
    sendType: Type.Optional(sendType),
    remark: optionalText(MAX_LENGTH.remark, `fewer than ${MAX_LENGTH.remark + 1} characters`),
    templateConfig: Type.Optional(ErpConfig),
  }),
  answer: TemplateView,
  async call({ body, appId, client, callOptions }) {
    const optionalId = (id: number | undefined) => (id === undefined ? undefined : String(id));
    const { template } = await client(CatalogueService).updateTemplate(
      {
        actor: appId,
        templateId: String(body.templateId),
        updateTime: body.updateTime,
        templateName: body.templateName,
        sendChannelId: optionalId(body.sendChannelId),
        brandId: optionalId(body.brandId),
        productId: optionalId(body.productId),
        ticketType: body.ticketType,
        faceValue: body.faceValue,
        sendType: body.sendType === undefined ? undefined : Number(body.sendType),
        remark: body.remark,
        templateConfig: configInputOf(body.templateConfig),
      },
      callOptions,
    );
    return viewOf(template);
  },
});

const switchOf = (active: boolean) =>
  activeSwitch({
    name: active ? "templateEnable" : "templateDisable",
    summary: active ? "券模板启用: enables a template" : "券模板停用: disables a template (no codes are made of it)",
    tag: TAG,
    record: CatalogueRecord.TEMPLATE,
    idField: "templateId",
    id: templateId,
    active,
    withUpdateTime: true,
  });

export const templateEnable = switchOf(true);
export const templateDisable = switchOf(false);
