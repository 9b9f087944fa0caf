import { Type, type Static } from "typebox";
import { CatalogueRecord, CatalogueService, type SendChannel } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { MAX_LENGTH } from "../../../services/voucher/catalogue/fields.js";
import { SEND_CHANNEL_TYPES } from "../../../services/voucher/catalogue/catalogue-store.js";
import { erpAction } from "../action.js";
import { LIST_FIELDS, listFilterOf, listSummary } from "./listing.js";
import { body, longId, optionalText, text, url, yesNo } from "../schemas.js";
import { activeSwitch, isActiveOf, yesNoOf } from "./active-switch.js";

const TAG = "制码渠道";

const channelCode = (what: string) => optionalText(MAX_LENGTH.channelCode, `${what}: fewer than ${MAX_LENGTH.channelCode + 1} characters`);

/**
 * The seed's orderEncryptKey is what the ESB encrypts the codes with: for 3DES the shared key, for a key pair the
 * public key string. WHALE decrypts the codes, so for RSA the ERP registers WHALE's private key for the channel
 * and WHALE sends its public half.
 */
const orderEncryptKey = Type.Optional(
  Type.String({
    maxLength: MAX_LENGTH.key,
    pattern: "^[-A-Za-z0-9+/=\\s]*$",
    description:
      "orderEncryptKey (制码方报文加密密钥; stored sealed, never answered): for 3DES the key shared with the code maker, " +
      "Base64 of 24 bytes or 48 hex digits; for RSA WHALE's private key for the channel, PKCS#8 PEM, whose public half " +
      "(Base64 DER SubjectPublicKeyInfo) WHALE sends the ESB as the public key string the codes are encrypted with",
  }),
);

/** sendChannelConfig: the seed's four fields, and what making codes through the ESB needs (its field table). */
const SendChannelConfig = Type.Object(
  {
    thirdChannelNo: channelCode("thirdChannelNo"),
    makeCodeURL: url("makeCodeURL"),
    verifyURL: url("verifyURL"),
    verifyNotifyURL: url("verifyNotifyURL"),
    sendChannelType: Type.Optional(
      Type.Union(SEND_CHANNEL_TYPES.map((type) => Type.Literal(type)), { description: "which adapter makes the codes: INTERNAL (WHALE), ESB or BLUE_BROTHERS; absent means ESB" }),
    ),
    channelMid: channelCode("channelMid (渠道商户编号)"),
    channelTid: channelCode("channelTid (渠道终端编号)"),
    encryptType: Type.Optional(Type.Union([Type.Literal("3DES"), Type.Literal("RSA")], { description: "3DES or RSA: how orders to the ESB are encrypted" })),
    orderEncryptKey,
  },
  { additionalProperties: false },
);

const SendChannelView = Type.Object({
  sendChannelId: Type.Integer(),
  sendChannelName: Type.String(),
  isActive: Type.Union([Type.Literal("Y"), Type.Literal("N")]),
  sendChannelConfig: Type.Object({
    sendChannelType: Type.String(),
    thirdChannelNo: Type.String(),
    makeCodeURL: Type.String(),
    verifyURL: Type.String(),
    verifyNotifyURL: Type.String(),
    channelMid: Type.String(),
    channelTid: Type.String(),
    encryptType: Type.String(),
    hasOrderEncryptKey: Type.Union([Type.Literal("Y"), Type.Literal("N")]),
  }),
});

function viewOf(channel: SendChannel | undefined) {
  const config = channel?.sendChannelConfig;
  if (!channel || !config) throw new Error("the catalogue answered no send channel");
  return {
    sendChannelId: Number(channel.sendChannelId),
    sendChannelName: channel.sendChannelName,
    isActive: yesNoOf(channel.isActive),
    sendChannelConfig: {
      sendChannelType: config.sendChannelType,
      thirdChannelNo: config.thirdChannelNo,
      makeCodeURL: config.makeCodeUrl,
      verifyURL: config.verifyUrl,
      verifyNotifyURL: config.verifyNotifyUrl,
      channelMid: config.channelMid,
      channelTid: config.channelTid,
      encryptType: config.encryptType,
      hasOrderEncryptKey: yesNoOf(config.hasOrderEncryptKey),
    },
  };
}

type ConfigBody = Static<typeof SendChannelConfig>;

function configInput(config: ConfigBody | undefined) {
  return {
    sendChannelType: config?.sendChannelType,
    thirdChannelNo: config?.thirdChannelNo,
    makeCodeUrl: config?.makeCodeURL,
    verifyUrl: config?.verifyURL,
    verifyNotifyUrl: config?.verifyNotifyURL,
    channelMid: config?.channelMid,
    channelTid: config?.channelTid,
    encryptType: config?.encryptType,
    orderEncryptKey: config?.orderEncryptKey,
  };
}

const sendChannelId = longId("sendChannelId");
const sendChannelName = text(MAX_LENGTH.name, "小于100个字符 (1–99 characters)");

/** 新增制码渠道接口 (the seed's spelling: sendChanneInsert). */
export const sendChanneInsert = erpAction({
  name: "sendChanneInsert",
  summary: "新增制码渠道接口: a new send channel; answers its sendChannelId",
  tag: TAG,
  body: body({ sendChannelName, isActive: yesNo, sendChannelConfig: SendChannelConfig }),
  answer: Type.Object({ sendChannelId: Type.Integer({ description: "the new send channel's id (Long, as templateInsert takes it)" }) }),
  async call({ body, appId, client, callOptions }) {
    const { sendChannelId } = await client(CatalogueService).insertSendChannel(
      { actor: appId, sendChannelName: body.sendChannelName, isActive: isActiveOf(body.isActive), sendChannelConfig: configInput(body.sendChannelConfig) },
      callOptions,
    );
    return { sendChannelId: Number(sendChannelId) };
  },
});

export const sendChannelQuery = erpAction({
  name: "sendChannelQuery",
  summary: "制码渠道查询: one send channel by id (its orderEncryptKey never answered)",
  tag: TAG,
  body: body({ sendChannelId }),
  answer: SendChannelView,
  async call({ body, client, callOptions }) {
    return viewOf((await client(CatalogueService).getSendChannel({ id: String(body.sendChannelId) }, callOptions)).sendChannel);
  },
});

export const sendChannelList = erpAction({
  name: "sendChannelList",
  summary: `制码渠道列表: ${listSummary("send channels")}`,
  tag: TAG,
  body: body({
    ...LIST_FIELDS,
    sendChannelType: Type.Optional(Type.Union(SEND_CHANNEL_TYPES.map((type) => Type.Literal(type)), { description: "only send channels of this adapter" })),
    afterSendChannelId: Type.Optional(sendChannelId),
  }),
  answer: Type.Object({ sendChannels: Type.Array(SendChannelView) }),
  async call({ body, client, callOptions }) {
    const { sendChannels } = await client(CatalogueService).listSendChannels(
      { filter: listFilterOf(body, body.afterSendChannelId), sendChannelType: body.sendChannelType ?? "" },
      callOptions,
    );
    return { sendChannels: sendChannels.map(viewOf) };
  },
});

export const sendChannelUpdate = erpAction({
  name: "sendChannelUpdate",
  summary: "制码渠道修改: changes the name and the config fields given; answers the channel as it now is",
  tag: TAG,
  body: body({ sendChannelId, sendChannelName: Type.Optional(sendChannelName), sendChannelConfig: Type.Optional(SendChannelConfig) }),
  answer: SendChannelView,
  async call({ body, appId, client, callOptions }) {
    const { sendChannel } = await client(CatalogueService).updateSendChannel(
      { actor: appId, sendChannelId: String(body.sendChannelId), sendChannelName: body.sendChannelName, sendChannelConfig: configInput(body.sendChannelConfig) },
      callOptions,
    );
    return viewOf(sendChannel);
  },
});

const switchOf = (active: boolean) =>
  activeSwitch({
    name: active ? "sendChannelEnable" : "sendChannelDisable",
    summary: active ? "制码渠道启用: enables a send channel" : "制码渠道停用: disables a send channel (no codes are made through it)",
    tag: TAG,
    record: CatalogueRecord.SEND_CHANNEL,
    idField: "sendChannelId",
    id: sendChannelId,
    active,
    withUpdateTime: false,
  });

export const sendChannelEnable = switchOf(true);
export const sendChannelDisable = switchOf(false);
