// The back office's make-code notice actions (seed 002): makeNotifyQuery (制码通知查询), makeNotifyRetry
// (制码通知重试) and verifyNotifyQuery (the seed's second copy of makeNotifyQuery, under 核销通知查询), each by the
// sale channel's order id, answered with the seed's fields. `saleChannelId` is ours: the seed asks by the order
// id alone, which names one order only while one sale channel used it (PSBC's code orders use our order numbers).
import { Type, type Static } from "typebox";
import { CodeService, type MakeNotice } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import { formatRequiredTimestamp } from "../../../services/common/clock.js";
import { erpAction, type ErpAction } from "../action.js";
import { body, stringId, text } from "../schemas.js";

const TAG = "make-code notices";

/** 小于64个字符: fewer than 64. */
const NoticeBody = body({
  saleChannelOrderId: text(63, "saleChannelOrderId: 销售渠道制码订单id, fewer than 64 characters"),
  saleChannelId: Type.Optional(stringId("saleChannelId (ours, not the seed's): whose order; required when more than one sale channel used the order id")),
});

const NoticeAnswer = Type.Object(
  {
    notifyId: Type.String({ description: "数据库通知id; empty when the order asked for no notice" }),
    orderId: Type.String({ description: "数据库订单id: WHALE's tradeNo" }),
    requestId: Type.String(),
    saleChannelId: Type.Integer({ description: "销售渠道id (Long)" }),
    saleChannelOrderId: Type.String(),
    createDate: Type.String({ description: "订单创建日期 yyyyMMdd" }),
    createTime: Type.String({ description: "订单创建时间 yyyyMMddHHmmss" }),
    orderMobile: Type.Optional(Type.String({ description: "制码时上送手机号" })),
    codeNum: Type.Integer({ description: "订单制码总数" }),
    orderExtend: Type.Optional(Type.String()),
    isNotify: Type.Union([Type.Literal("已通知"), Type.Literal("未通知")]),
    isCanVoid: Type.Union([Type.Literal("可撤销"), Type.Literal("不可撤销")]),
    orderReturnCode: Type.String({ description: "订单返回码: 00 made, otherwise not (the seed's returnCode of the order; the envelope's returnCode is the call's)" }),
    updateDate: Type.String({ description: "订单更新日期 yyyyMMdd" }),
    updateTime: Type.String({ description: "订单更新时间 yyyyMMddHHmmss" }),
    status: Type.String({ description: "状态描述" }),
  },
  { additionalProperties: false },
);

function noticeAnswer(notice: MakeNotice | undefined): Static<typeof NoticeAnswer> {
  if (!notice) throw new Error("CodeService answered no notice");
  const created = formatRequiredTimestamp(notice.createdAt);
  const updated = formatRequiredTimestamp(notice.updatedAt);
  return {
    notifyId: notice.notifyId,
    orderId: notice.orderId,
    requestId: notice.requestId,
    saleChannelId: Number(notice.saleChannelId),
    saleChannelOrderId: notice.saleChannelOrderId,
    createDate: created.slice(0, 8),
    createTime: created,
    ...(notice.orderMobile ? { orderMobile: notice.orderMobile } : {}),
    codeNum: notice.codeNum,
    isNotify: notice.notified ? "已通知" : "未通知",
    isCanVoid: notice.canVoid ? "可撤销" : "不可撤销",
    orderReturnCode: notice.returnCode,
    updateDate: updated.slice(0, 8),
    updateTime: updated,
    status: notice.status,
  };
}

export const noticeActions: readonly ErpAction[] = [
  erpAction({
    name: "makeNotifyQuery",
    summary: "制码通知查询: the SMS notice of a make-code order",
    tag: TAG,
    body: NoticeBody,
    answer: NoticeAnswer,
    async call({ body, client, callOptions }) {
      const { notice } = await client(CodeService).getMakeNotice({ saleChannelOrderId: body.saleChannelOrderId, saleChannelId: body.saleChannelId }, callOptions);
      return noticeAnswer(notice);
    },
  }),
  erpAction({
    name: "makeNotifyRetry",
    summary: "制码通知重试: send the order's SMS notice again, to the order's own number, a limited number of times per order (then 01)",
    tag: TAG,
    body: NoticeBody,
    answer: NoticeAnswer,
    async call({ body, client, callOptions }) {
      const { notice } = await client(CodeService).retryMakeNotice({ saleChannelOrderId: body.saleChannelOrderId, saleChannelId: body.saleChannelId }, callOptions);
      return noticeAnswer(notice);
    },
  }),
  erpAction({
    name: "verifyNotifyQuery",
    summary: "核销通知查询: the verify (redemption) notices of a make-code order",
    tag: TAG,
    body: NoticeBody,
    answer: NoticeAnswer,
    async call({ body, client, callOptions }) {
      const { notice } = await client(CodeService).getMakeNotice({ saleChannelOrderId: body.saleChannelOrderId, saleChannelId: body.saleChannelId, verify: true }, callOptions);
      return noticeAnswer(notice);
    },
  }),
];
