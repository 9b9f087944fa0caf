import { Type } from "typebox";
import { CatalogueRecord, CatalogueService, type Activity } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { MAX_LENGTH } from "../../../services/voucher/catalogue/fields.js";
import { erpAction } from "../action.js";
import { LIST_FIELDS, listFilterOf, listSummary } from "./listing.js";
import { body, ErpConfig, erpTime, longId, optionalText, stringId, text, yesNo } from "../schemas.js";
import { activeSwitch, isActiveOf, yesNoOf } from "./active-switch.js";
import { configInputOf, configViewOf, ErpConfigView } from "./erp-config.js";

const TAG = "活动";

const ActivityView = Type.Object({
  activityId: Type.String(),
  activityName: Type.String(),
  ebuyActivityId: Type.String(),
  saleChannelId: Type.String(),
  validStart: Type.String(),
  validEnd: Type.String(),
  isActive: Type.Union([Type.Literal("Y"), Type.Literal("N")]),
  createUser: Type.String(),
  createTime: Type.String(),
  updateTime: Type.String(),
  activityConfig: ErpConfigView,
  templateIds: Type.Array(Type.Integer(), { description: "the templates it offers" }),
});

function viewOf(activity: Activity | undefined) {
  if (!activity) throw new Error("the catalogue answered no activity");
  return {
    activityId: activity.activityId,
    activityName: activity.activityName,
    ebuyActivityId: activity.ebuyActivityId,
    saleChannelId: activity.saleChannelId,
    validStart: activity.validStart,
    validEnd: activity.validEnd,
    isActive: yesNoOf(activity.isActive),
    createUser: activity.createUser,
    createTime: activity.createTime,
    updateTime: activity.updateTime,
    activityConfig: configViewOf(activity.activityConfig),
    templateIds: activity.templateIds.map(Number),
  };
}

const activityId = stringId("activityId");
const activityName = text(MAX_LENGTH.name, "小于100个字符 (1–99 characters)");
const ebuyActivityId = text(MAX_LENGTH.ebuyActivityId, "小于40个字符 (1–39 characters), one activity per e-buy activity");

/** 新增活动接口. */
export const activityInsert = erpAction({
  name: "activityInsert",
  summary: "新增活动接口: a new activity of an active sale channel (one per ebuyActivityId); answers its activityId",
  tag: TAG,
  body: body({
    activityName,
    ebuyActivityId,
    saleChannelId: stringId("saleChannelId"),
    validStart: erpTime("validStart"),
    validEnd: erpTime("validEnd (after validStart)"),
    isActive: yesNo,
    createUser: optionalText(MAX_LENGTH.user, `fewer than ${MAX_LENGTH.user + 1} characters`),
    createTime: erpTime("createTime"),
    updateTime: erpTime("updateTime"),
    activityConfig: Type.Optional(ErpConfig),
  }),
  answer: Type.Object({ activityId: Type.String({ description: "the new activity's id" }) }),
  async call({ body, appId, client, callOptions }) {
    const { activityId } = await client(CatalogueService).insertActivity(
      {
        actor: appId,
        activityName: body.activityName,
        ebuyActivityId: body.ebuyActivityId,
        saleChannelId: body.saleChannelId,
        validStart: body.validStart,
        validEnd: body.validEnd,
        isActive: isActiveOf(body.isActive),
        createUser: body.createUser,
        createTime: body.createTime,
        updateTime: body.updateTime,
        activityConfig: configInputOf(body.activityConfig),
      },
      callOptions,
    );
    return { activityId };
  },
});

export const activityQuery = erpAction({
  name: "activityQuery",
  summary: "活动查询: one activity by id, with the templates it offers",
  tag: TAG,
  body: body({ activityId }),
  answer: ActivityView,
  async call({ body, client, callOptions }) {
    return viewOf((await client(CatalogueService).getActivity({ id: body.activityId }, callOptions)).activity);
  },
});

export const activityList = erpAction({
  name: "activityList",
  summary: `活动列表: ${listSummary("activities, each with the templates it offers,")}`,
  tag: TAG,
  body: body({ ...LIST_FIELDS, saleChannelId: Type.Optional(stringId("saleChannelId: only activities of this sale channel")), afterActivityId: Type.Optional(activityId) }),
  answer: Type.Object({ activities: Type.Array(ActivityView) }),
  async call({ body, client, callOptions }) {
    const { activities } = await client(CatalogueService).listActivities(
      { filter: listFilterOf(body, body.afterActivityId), saleChannelId: body.saleChannelId ?? "" },
      callOptions,
    );
    return { activities: activities.map(viewOf) };
  },
});

export const activityUpdate = erpAction({
  name: "activityUpdate",
  summary: "活动修改: changes the fields given (activityConfig replaced whole); answers the activity as it now is",
  tag: TAG,
  body: body({
    activityId,
    updateTime: erpTime("updateTime"),
    activityName: Type.Optional(activityName),
    ebuyActivityId: Type.Optional(ebuyActivityId),
    saleChannelId: Type.Optional(stringId("saleChannelId")),
    validStart: Type.Optional(erpTime("validStart")),
    validEnd: Type.Optional(erpTime("validEnd (after validStart)")),
    activityConfig: Type.Optional(ErpConfig),
  }),
  answer: ActivityView,
  async call({ body, appId, client, callOptions }) {
    const { activity } = await client(CatalogueService).updateActivity(
      {
        actor: appId,
        activityId: body.activityId,
        updateTime: body.updateTime,
        activityName: body.activityName,
        ebuyActivityId: body.ebuyActivityId,
        saleChannelId: body.saleChannelId,
        validStart: body.validStart,
        validEnd: body.validEnd,
        activityConfig: configInputOf(body.activityConfig),
      },
      callOptions,
    );
    return viewOf(activity);
  },
});

const switchOf = (active: boolean) =>
  activeSwitch({
    name: active ? "activityEnable" : "activityDisable",
    summary: active ? "活动启用: enables an activity" : "活动停用: disables an activity (no codes are made for it)",
    tag: TAG,
    record: CatalogueRecord.ACTIVITY,
    idField: "activityId",
    id: activityId,
    active,
    withUpdateTime: true,
  });

export const activityEnable = switchOf(true);
export const activityDisable = switchOf(false);

const Binding = body({ activityId, templateId: longId("templateId") });
const BindingAnswer = Type.Object({ changed: Type.Union([Type.Literal("Y"), Type.Literal("N")], { description: "N: nothing changed (already bound; not bound)" }) });

export const activityTemplateBind = erpAction({
  name: "activityTemplateBind",
  summary: "活动绑定券模板: the activity offers the template (both active; binding twice is one binding)",
  tag: TAG,
  body: Binding,
  answer: BindingAnswer,
  async call({ body, appId, client, callOptions }) {
    const { changed } = await client(CatalogueService).bindTemplate({ actor: appId, activityId: body.activityId, templateId: String(body.templateId) }, callOptions);
    return { changed: yesNoOf(changed) };
  },
});

export const activityTemplateUnbind = erpAction({
  name: "activityTemplateUnbind",
  summary: "活动解绑券模板: the activity no longer offers the template",
  tag: TAG,
  body: Binding,
  answer: BindingAnswer,
  async call({ body, appId, client, callOptions }) {
    const { changed } = await client(CatalogueService).unbindTemplate({ actor: appId, activityId: body.activityId, templateId: String(body.templateId) }, callOptions);
    return { changed: yesNoOf(changed) };
  },
});
