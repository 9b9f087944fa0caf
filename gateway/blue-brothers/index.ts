import type { Client } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { errorCodes, type FastifyPluginAsync, type FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";
import type { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { tracedCall } from "../traced-call.js";
import { SIGNATURE_HEADERS, verifySignature } from "../../services/common/signing.js";
import {
  BLUE_BROTHERS_CALLBACK_PREFIX,
  CALLBACK_ANSWERS,
  REDEMPTION_NOTICE_PATH,
} from "../../services/voucher/channels/blue-brothers/callback-wire.js";
import type { PublicContract } from "../public-contract.js";
import { acceptSignedJson } from "../signed-json.js";
import { NoticeSignatureInvalid, sendCallbackError } from "./errors.js";

export interface BlueBrothersCallbackOptions {
  voucherService: Client<typeof VoucherService>;
  /** The app credentials Blue Brothers signs with (the same we sign our calls to it with). */
  appId: string;
  appSecret: string;
  /** Deadline of the voucher service call. Unset, the transport's default applies. */
  callTimeoutMs?: number;
}

/** The send channel the voucher service knows Blue Brothers by. */
const SEND_CHANNEL = "BLUE_BROTHERS";

const RedemptionNoticeBody = Type.Object({
  noticeId: Type.String({ minLength: 1, maxLength: 64, pattern: "^[\\x21-\\x7e]+$" }),
  voucherNo: Type.String({ minLength: 1, maxLength: 64, pattern: "^[0-9A-Za-z]+$" }),
  outOrderNo: Type.String({ minLength: 1, maxLength: 64, pattern: "^[\\x21-\\x7e]+$" }),
  status: Type.Literal("REDEEMED"),
  redeemedAt: Type.String({
    maxLength: 40,
    pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?(Z|[+-]\\d{2}:\\d{2})$",
    description: "ISO 8601 with an offset",
  }),
});
type RedemptionNoticeBody = Static<typeof RedemptionNoticeBody>;

const CallbackAnswerBody = Type.Object({
  code: Type.String({ description: "0000 success; 4000 parameter, 4010 signature, 4040 unknown voucher, 4090 replay, 5000 system" }),
  msg: Type.String(),
  traceId: Type.String(),
});

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Blue Brothers' callbacks in their own scope: the body kept as received, the signature verified before the
 * body is validated or believed, then one voucher service call. Every answer, errors included, is Blue
 * Brothers' `{ code, msg }` (with our traceId).
 */
const blueBrothersPlugin: FastifyPluginAsync<BlueBrothersCallbackOptions> = async (scope, options) => {
  const rawBody = acceptSignedJson(scope);
  scope.setErrorHandler(sendCallbackError);
  scope.setNotFoundHandler((request, reply) => sendCallbackError(new errorCodes.FST_ERR_NOT_FOUND(), request, reply));

  scope.post<{ Body: RedemptionNoticeBody }>(
    REDEMPTION_NOTICE_PATH,
    {
      schema: {
        operationId: "redemptionNotice",
        summary: "券码核销通知 (Blue Brothers → us), signed with x-app-id, x-timestamp, x-nonce, x-signature",
        headers: Type.Object({
          [SIGNATURE_HEADERS.appId]: Type.String(),
          [SIGNATURE_HEADERS.timestamp]: Type.String(),
          [SIGNATURE_HEADERS.nonce]: Type.String({ minLength: 1, maxLength: 64 }),
          [SIGNATURE_HEADERS.signature]: Type.String(),
        }),
        body: RedemptionNoticeBody,
        response: { 200: CallbackAnswerBody, "4xx": CallbackAnswerBody, "5xx": CallbackAnswerBody },
      },
      // Before validation: an unsigned body is not looked at, whatever it holds.
      preValidation: async (request) => {
        const signed = verifySignature(
          {
            appId: header(request, SIGNATURE_HEADERS.appId),
            timestamp: header(request, SIGNATURE_HEADERS.timestamp),
            nonce: header(request, SIGNATURE_HEADERS.nonce),
            signature: header(request, SIGNATURE_HEADERS.signature),
            body: rawBody(request),
          },
          options,
        );
        if (!signed) throw new NoticeSignatureInvalid("notice signature invalid");
      },
    },
    async (request) => {
      const traceId = request.id;
      const notice = request.body;
      const { alreadyRedeemed } = await tracedCall(traceId, options.callTimeoutMs, (callOptions) =>
        options.voucherService.recordRedemption(
          {
            sendChannel: SEND_CHANNEL,
            voucherNo: notice.voucherNo,
            redeemedAt: timestampFromDate(new Date(notice.redeemedAt)),
            noticeId: notice.noticeId,
            nonce: header(request, SIGNATURE_HEADERS.nonce) ?? "",
          },
          callOptions,
        ),
      );
      request.log.info({ noticeId: notice.noticeId, voucherNo: notice.voucherNo, alreadyRedeemed }, "redemption notice recorded");
      request.contractCode = 0;
      const { code, msg } = CALLBACK_ANSWERS.SUCCESS;
      return { code, msg, traceId };
    },
  );
};

/** The contract Blue Brothers calls us by (assumed: services/voucher/channels/blue-brothers/callback-wire.ts). */
export function blueBrothersCallbackContract(options: BlueBrothersCallbackOptions): PublicContract {
  return {
    name: "blue-brothers",
    prefix: BLUE_BROTHERS_CALLBACK_PREFIX,
    document: {
      info: { title: "Blue Brothers callbacks (assumed format)", version: "1.0.0" },
      tags: [],
    },
    register: (scope, prefix) => scope.register(blueBrothersPlugin, { ...options, prefix }),
    sendPreRoutingError: sendCallbackError,
  };
}
