import { Type } from "typebox";
import { CatalogueRecord, CatalogueService, type SaleChannel } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { MAX_LENGTH } from "../../../services/voucher/catalogue/fields.js";
import { erpAction } from "../action.js";
import { LIST_FIELDS, listFilterOf, listSummary } from "./listing.js";
import { body, erpTime, key, optionalText, stringId, text, url, yesNo } from "../schemas.js";
import { activeSwitch, isActiveOf, yesNoOf } from "./active-switch.js";

const TAG = "销售渠道";

/** saleChannelConfig: the seed's fields, and whalePrivateKey when the ERP brings WHALE's pair itself. */
const SaleChannelConfig = Type.Object(
  {
    channelPublicKey: key("channelPublicKey (the channel's key, verifying its make-code calls)"),
    whalePublicKey: key("whalePublicKey (with whalePrivateKey, or neither: WHALE generates the pair)"),
    whalePrivateKey: key("whalePrivateKey (WHALE's private key for the channel, PKCS#8; with whalePublicKey)"),
    verifyNotifyURL: url("verifyNotifyURL"),
  },
  { additionalProperties: false },
);

const SaleChannelView = Type.Object({
  saleChannelId: Type.String(),
  saleChannelName: Type.String(),
  isActive: Type.Union([Type.Literal("Y"), Type.Literal("N")]),
  remark: Type.String(),
  creatorName: Type.String(),
  createTime: Type.String(),
  updateTime: Type.String(),
  saleChannelConfig: Type.Object({ channelPublicKey: Type.String(), whalePublicKey: Type.String(), verifyNotifyURL: Type.String() }),
});

function viewOf(channel: SaleChannel | undefined) {
  if (!channel) throw new Error("the catalogue answered no sale channel");
  return {
    saleChannelId: channel.saleChannelId,
    saleChannelName: channel.saleChannelName,
    isActive: yesNoOf(channel.isActive),
    remark: channel.remark,
    creatorName: channel.creatorName,
    createTime: channel.createTime,
    updateTime: channel.updateTime,
    saleChannelConfig: { channelPublicKey: channel.channelPublicKey, whalePublicKey: channel.whalePublicKey, verifyNotifyURL: channel.verifyNotifyUrl },
  };
}

const saleChannelId = stringId("saleChannelId");

/** 新增销售渠道接口 (the seed's spelling: saleChanneInsert). */
export const saleChanneInsert = erpAction({
  name: "saleChanneInsert",
  summary: "新增销售渠道接口: a new sale channel; answers its saleChannelId and WHALE's public key for it",
  tag: TAG,
  body: body({
    saleChannelName: text(MAX_LENGTH.name, "小于100个字符 (1–99 characters)"),
    isActive: yesNo,
    remark: optionalText(MAX_LENGTH.remark, `fewer than ${MAX_LENGTH.remark + 1} characters`),
    creatorName: optionalText(MAX_LENGTH.user, `fewer than ${MAX_LENGTH.user + 1} characters`),
    createTime: erpTime("createTime"),
    updateTime: erpTime("updateTime"),
    saleChannelConfig: Type.Optional(SaleChannelConfig),
  }),
  answer: Type.Object({
    saleChannelId: Type.String({ description: "the new sale channel's id" }),
    whalePublicKey: Type.String({ description: "WHALE's public key for this channel (Base64 DER SubjectPublicKeyInfo): verify our answers with it" }),
  }),
  async call({ body, appId, client, callOptions }) {
    const config = body.saleChannelConfig;
    const { saleChannelId, whalePublicKey } = await client(CatalogueService).insertSaleChannel(
      {
        actor: appId,
        saleChannelName: body.saleChannelName,
        isActive: isActiveOf(body.isActive),
        remark: body.remark,
        creatorName: body.creatorName,
        createTime: body.createTime,
        updateTime: body.updateTime,
        channelPublicKey: config?.channelPublicKey || undefined,
        whalePublicKey: config?.whalePublicKey || undefined,
        whalePrivateKey: config?.whalePrivateKey || undefined,
        verifyNotifyUrl: config?.verifyNotifyURL || undefined,
      },
      callOptions,
    );
    return { saleChannelId, whalePublicKey };
  },
});

export const saleChannelQuery = erpAction({
  name: "saleChannelQuery",
  summary: "销售渠道查询: one sale channel by id",
  tag: TAG,
  body: body({ saleChannelId }),
  answer: SaleChannelView,
  async call({ body, client, callOptions }) {
    return viewOf((await client(CatalogueService).getSaleChannel({ id: body.saleChannelId }, callOptions)).saleChannel);
  },
});

export const saleChannelList = erpAction({
  name: "saleChannelList",
  summary: `销售渠道列表: ${listSummary("sale channels")}`,
  tag: TAG,
  body: body({ ...LIST_FIELDS, afterSaleChannelId: Type.Optional(saleChannelId) }),
  answer: Type.Object({ saleChannels: Type.Array(SaleChannelView) }),
  async call({ body, client, callOptions }) {
    const { saleChannels } = await client(CatalogueService).listSaleChannels({ filter: listFilterOf(body, body.afterSaleChannelId) }, callOptions);
    return { saleChannels: saleChannels.map(viewOf) };
  },
});

export const saleChannelUpdate = erpAction({
  name: "saleChannelUpdate",
  summary: "销售渠道修改: changes the fields given (an empty channelPublicKey removes it); answers the channel as it now is",
  tag: TAG,
  body: body({
    saleChannelId,
    updateTime: erpTime("updateTime"),
    saleChannelName: Type.Optional(text(MAX_LENGTH.name, "小于100个字符 (1–99 characters)")),
    remark: optionalText(MAX_LENGTH.remark, `fewer than ${MAX_LENGTH.remark + 1} characters`),
    saleChannelConfig: Type.Optional(
      Type.Object({ channelPublicKey: key("channelPublicKey"), verifyNotifyURL: url("verifyNotifyURL") }, { additionalProperties: false }),
    ),
  }),
  answer: SaleChannelView,
  async call({ body, appId, client, callOptions }) {
    const { saleChannel } = await client(CatalogueService).updateSaleChannel(
      {
        actor: appId,
        saleChannelId: body.saleChannelId,
        updateTime: body.updateTime,
        saleChannelName: body.saleChannelName,
        remark: body.remark,
        channelPublicKey: body.saleChannelConfig?.channelPublicKey,
        verifyNotifyUrl: body.saleChannelConfig?.verifyNotifyURL,
      },
      callOptions,
    );
    return viewOf(saleChannel);
  },
});

const switchOf = (active: boolean) =>
  activeSwitch({
    name: active ? "saleChannelEnable" : "saleChannelDisable",
    summary: active ? "销售渠道启用: enables a sale channel" : "销售渠道停用: disables a sale channel (its make-code calls are refused)",
    tag: TAG,
    record: CatalogueRecord.SALE_CHANNEL,
    idField: "saleChannelId",
    id: saleChannelId,
    active,
    withUpdateTime: true,
  });

export const saleChannelEnable = switchOf(true);
export const saleChannelDisable = switchOf(false);
