import { createClient, type CallOptions, type Client, type Transport } from "@connectrpc/connect";
import { errorCodes, type FastifyPluginAsync, type FastifyRequest } from "fastify";
import { CodeService, type CodeOrder } from "../../proto/gen/rights/voucher/v1/codes_pb.js";
import { formatRequiredTimestamp } from "../../services/common/clock.js";
import { RECORD_ID } from "../../services/voucher/catalogue/fields.js";
import { tracedCall } from "../traced-call.js";
import type { PublicContract } from "../public-contract.js";
import { acceptSignedJson } from "../signed-json.js";
import { ChannelAuthenticationFailed, sendChannelError } from "./errors.js";
import {
  CHANNEL_HEADERS,
  ChannelFailure,
  ChannelHeaders,
  MakeCodeBody,
  MakeCodeSuccess,
  RETURN_CODE_TABLE,
  RETURN_CODES,
} from "./schemas.js";

export const WHALE_CHANNEL_PREFIX = "/whale/channel";

export interface WhaleChannelOptions {
  /** The voucher service, which hosts the CodeService. */
  voucherTransport: Transport;
  /** Deadline of each voucher service call; unset, the transport's default applies. */
  callTimeoutMs?: number;
}

const SIGNATURE = /^[A-Za-z0-9+/]{1,1400}={0,2}$/;

/** The sale channel each request was authenticated as: its answers are signed for it. */
const callers = new WeakMap<FastifyRequest, string>();

function header(request: FastifyRequest, name: string): string {
  const value = request.headers[name];
  if (typeof value !== "string") throw new ChannelAuthenticationFailed(`${name} is required (exactly once)`);
  return value;
}

/**
 * The sale channels' API in its own scope: POST /whale/channel/makeCode. The call is authenticated (its
 * signature over the raw body, by the voucher service with the channel's registered key) before the body is
 * validated or believed; then one MakeCode call; the answer, failures included, is signed for the channel.
 */
export const whaleChannelPlugin: FastifyPluginAsync<WhaleChannelOptions> = async (scope, options) => {
  const rawBodyOf = acceptSignedJson(scope);
  scope.setErrorHandler(sendChannelError);
  scope.setNotFoundHandler((request, reply) => sendChannelError(new errorCodes.FST_ERR_NOT_FOUND(), request, reply));

  const codes: Client<typeof CodeService> = createClient(CodeService, options.voucherTransport);
  const traced = <T>(request: FastifyRequest, call: (callOptions: CallOptions) => T) => tracedCall(request.id, options.callTimeoutMs, call);

  // Every answer to an authenticated channel is signed over its exact bytes. An answer that cannot be signed is
  // sent without X-Signature: the channel refuses it, as it should refuse anything we did not sign.
  scope.addHook("onSend", async (request, reply, payload) => {
    const saleChannelId = callers.get(request);
    if (saleChannelId === undefined || typeof payload !== "string") return payload;
    try {
      const { signature } = await traced(request, (callOptions) =>
        codes.signForSaleChannel({ saleChannelId, body: Buffer.from(payload, "utf8") }, callOptions),
      );
      reply.header(CHANNEL_HEADERS.signature, signature);
    } catch (err) {
      request.log.error({ err, saleChannelId }, "make-code answer could not be signed; sent unsigned");
    }
    return payload;
  });

  scope.post(
    "/makeCode",
    {
      schema: {
        operationId: "makeCode",
        summary: "制码: make codes of a template for a sale channel's order",
        headers: ChannelHeaders,
        body: MakeCodeBody,
        response: { 200: { anyOf: [MakeCodeSuccess, ChannelFailure] } },
      },
      // Before validation: an unauthenticated body is not looked at, whatever it holds.
      preValidation: async (request) => {
        const saleChannelId = header(request, CHANNEL_HEADERS.saleChannelId);
        if (!RECORD_ID.test(saleChannelId)) throw new ChannelAuthenticationFailed(`${CHANNEL_HEADERS.saleChannelId} must be a sale channel id (digits)`);
        const signature = header(request, CHANNEL_HEADERS.signature);
        if (!SIGNATURE.test(signature)) throw new ChannelAuthenticationFailed(`${CHANNEL_HEADERS.signature} must be Base64`);
        await traced(request, (callOptions) => codes.authenticateSaleChannel({ saleChannelId, body: rawBodyOf(request), signature }, callOptions));
        callers.set(request, saleChannelId);
      },
    },
    async (request, reply): Promise<MakeCodeSuccess> => {
      const body = request.body as MakeCodeBody;
      const saleChannelId = callers.get(request) ?? "";
      const { order } = await traced(request, (callOptions) =>
        codes.makeCode(
          {
            saleChannelId,
            saleChannelOrderId: body.saleChannelOrderId,
            requestId: body.requestId,
            mobilePhone: body.notifyType?.mobilePhone ?? "",
            item: {
              saleChannelItemId: body.item.saleChannelItemId,
              commissionDate: body.item.commissionDate,
              validDays: body.item.validDays,
              ticketId: String(body.item.ticketId),
              codeNum: body.item.codeNum ?? 1,
              makeFundsChannel: body.item.makeFundsChannel && {
                channelBenefit: BigInt(body.item.makeFundsChannel.channelBenefit),
                merchantBenefit: BigInt(body.item.makeFundsChannel.merchantBenefit),
                userRealAmount: BigInt(body.item.makeFundsChannel.userRealAmount),
              },
            },
          },
          callOptions,
        ),
      );
      if (!order) throw new Error("MakeCode answered no order");
      request.contractCode = 0;
      // Ids and counts only: never a code in a log line.
      request.log.info({ saleChannelId, tradeNo: order.tradeNo, codeNum: order.codeNum }, "make-code served");
      reply.header("x-trace-id", request.id);
      return answerOf(order);
    },
  );
};

/** The seed's make-code response for an order. */
export function answerOf(order: CodeOrder): MakeCodeSuccess {
  const createdAt = formatRequiredTimestamp(order.createdAt);
  const item = order.item;
  return {
    returnCode: RETURN_CODES.SUCCESS,
    returnMsg: "SUCCESS",
    data: {
      saleChannelOrderId: order.saleChannelOrderId,
      tradeNo: order.tradeNo,
      createTime: createdAt,
      isNotify: order.notify ? "1" : "0",
      codeNum: order.codeNum,
      items: item
        ? [
            {
              codeDetail: item.codes.map((code) => ({
                codeURL: code.codeUrl,
                code: code.code,
                useTimes: code.useTimes,
                status: code.status,
                statusDesc: STATUS_DESCRIPTIONS[code.status] ?? code.status,
              })),
              validEnd: formatRequiredTimestamp(item.validEnd),
              validStart: formatRequiredTimestamp(item.validStart),
              itemResultMsg: "SUCCESS",
              itemResultCode: RETURN_CODES.SUCCESS,
              saleChannelItemId: item.saleChannelItemId,
              ticketId: Number(item.ticketId),
              ticketName: item.ticketName,
              activityId: item.activityId,
              activityName: item.activityName,
            },
          ]
        : [],
      createDate: createdAt.slice(0, 8),
    },
  };
}

/** The seed names one code status; redemption (part 2) adds the others. */
const STATUS_DESCRIPTIONS: Record<string, string> = { "00": "未使用" };

/** The contract sale channels make codes by (issue 10; the seed 002's makeCode request and response). */
export function whaleChannelContract(options: WhaleChannelOptions): PublicContract {
  return {
    name: "whale-channel",
    prefix: WHALE_CHANNEL_PREFIX,
    document: {
      info: {
        title: "WHALE make-code (sale channel → WHALE)",
        version: "1.0.0",
        description:
          "POST /whale/channel/makeCode with the seed's body, from the sale channel named by X-Sale-Channel-Id, signed " +
          "SHA256withRSA over the raw body with the channel's private key (X-Signature, Base64). Idempotent by " +
          "(sale channel, saleChannelOrderId): a repeat answers the codes made the first time.\n\n" +
          RETURN_CODE_TABLE,
      },
      tags: [],
    },
    register: (scope, prefix) => scope.register(whaleChannelPlugin, { ...options, prefix }),
    sendPreRoutingError: sendChannelError,
  };
}
