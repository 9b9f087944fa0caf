/**
 * The sale channels' make-code API (sale channel → WHALE, seed 002's makeCode request and response): request
 * bodies validated by ajv, answers serialised from these schemas, the served OpenAPI document generated from
 * them, and the TypeScript types derived from them. Each field's `description` states its rule: a parameter
 * error's returnMsg quotes it.
 */
import { Type, type Static } from "typebox";
import { RECORD_ID_PATTERN } from "../../services/voucher/catalogue/fields.js";
import { MAKE_CODE_LIMITS } from "../../services/voucher/codes/make-code.js";

export const RETURN_CODES = {
  SUCCESS: "00",
  PARAMETER_ERROR: "01",
  AUTHENTICATION_FAILED: "02",
  DUPLICATE: "03",
  NOT_AVAILABLE: "04",
  QUOTA_EXCEEDED: "05",
  SYSTEM_ERROR: "99",
} as const;
export type ReturnCode = (typeof RETURN_CODES)[keyof typeof RETURN_CODES];

export const RETURN_CODE_TABLE = `| returnCode | meaning | returnMsg |
|---|---|---|
| 00 | codes made (or, for a repeat of the order, the codes made the first time) | SUCCESS |
| 01 | parameter error: a field missing, of the wrong type, too long, in the wrong format; bad JSON, body too large, wrong content type | names the field and the rule broken |
| 02 | authentication failed: X-Sale-Channel-Id or X-Signature missing or malformed, or the signature does not verify with the channel's registered key (also for an unknown or disabled channel) | what failed |
| 03 | duplicate: the saleChannelOrderId was used before with another request body | the order id |
| 04 | the sale channel, the template (ticketId), or an activity of the channel offering it is missing, inactive, or out of its validity | the record |
| 05 | quota exceeded: a make-code limit rule refused (nothing made, nothing counted) | the rule's messageTpl |
| 99 | system error, the send channel failing, or the order being made by a concurrent call: repeat the same request | what to do |

Every answer is HTTP 200 with this envelope. A signed caller's answers carry X-Signature: WHALE's SHA256withRSA
signature (Base64) over the answer's exact bytes, verifiable with the whalePublicKey of the channel.`;

const PRINTABLE = "^[\\x21-\\x7e]+$";
const text = (max: number, what: string) =>
  Type.String({ minLength: 1, maxLength: max, pattern: PRINTABLE, description: `${what}: 1–${max} printable ASCII characters, no spaces` });
const fen = (what: string) => Type.Integer({ minimum: 0, maximum: 1e12, description: `${what}: fen (分), a non-negative integer` });

export const MakeCodeBody = Type.Object(
  {
    saleChannelOrderId: text(MAKE_CODE_LIMITS.saleChannelOrderId, "saleChannelOrderId"),
    requestId: text(MAKE_CODE_LIMITS.requestId, "requestId"),
    notifyType: Type.Optional(
      Type.Object(
        { mobilePhone: Type.Optional(Type.String({ pattern: "^1[0-9]{10}$", description: "mobilePhone: 11 digits starting with 1 (the SMS notice goes there)" })) },
        { additionalProperties: false },
      ),
    ),
    item: Type.Object(
      {
        saleChannelItemId: text(MAKE_CODE_LIMITS.saleChannelItemId, "saleChannelItemId"),
        commissionDate: Type.String({ pattern: "^[0-9]{1,3}$", description: `commissionDate: days from today until the codes become valid, 0–${MAKE_CODE_LIMITS.maxCommissionDays}` }),
        validDays: Type.Integer({ minimum: 1, maximum: MAKE_CODE_LIMITS.maxValidDays, description: `validDays: days the codes stay valid, 1–${MAKE_CODE_LIMITS.maxValidDays}` }),
        ticketId: Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.String({ pattern: RECORD_ID_PATTERN })], {
          description: "ticketId: the template id WHALE answered templateInsert with (a number, or its digits as a string)",
        }),
        codeNum: Type.Optional(Type.Integer({ minimum: 1, maximum: MAKE_CODE_LIMITS.maxCodeNum, description: `codeNum: codes to make, 1–${MAKE_CODE_LIMITS.maxCodeNum}; absent means 1` })),
        makeFundsChannel: Type.Optional(
          Type.Object(
            { channelBenefit: fen("channelBenefit"), merchantBenefit: fen("merchantBenefit"), userRealAmount: fen("userRealAmount") },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type MakeCodeBody = Static<typeof MakeCodeBody>;

const businessTime = (what: string) => Type.String({ pattern: "^[0-9]{14}$", description: `${what}: yyyyMMddHHmmss, Asia/Shanghai` });

export const CodeDetail = Type.Object(
  {
    codeURL: Type.String({ description: "where the customer shows the code (empty when its send channel gives none)" }),
    code: Type.String(),
    useTimes: Type.Integer(),
    status: Type.String({ description: "00 未使用 (unused)" }),
    statusDesc: Type.String(),
  },
  { additionalProperties: false },
);

export const MakeCodeItemAnswer = Type.Object(
  {
    codeDetail: Type.Array(CodeDetail),
    validEnd: businessTime("validEnd"),
    validStart: businessTime("validStart"),
    itemResultMsg: Type.String(),
    itemResultCode: Type.String(),
    saleChannelItemId: Type.String(),
    ticketId: Type.Integer(),
    ticketName: Type.String(),
    activityId: Type.String(),
    activityName: Type.String(),
  },
  { additionalProperties: false },
);

export const MakeCodeSuccess = Type.Object(
  {
    returnCode: Type.Literal(RETURN_CODES.SUCCESS),
    returnMsg: Type.Literal("SUCCESS"),
    data: Type.Object(
      {
        saleChannelOrderId: Type.String(),
        tradeNo: Type.String(),
        createTime: businessTime("createTime"),
        isNotify: Type.Union([Type.Literal("1"), Type.Literal("0")], { description: "1: an SMS notice goes to notifyType.mobilePhone; 0: none" }),
        codeNum: Type.Integer(),
        items: Type.Array(MakeCodeItemAnswer),
        createDate: Type.String({ pattern: "^[0-9]{8}$", description: "yyyyMMdd" }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type MakeCodeSuccess = Static<typeof MakeCodeSuccess>;

export const ChannelFailure = Type.Object(
  {
    returnCode: Type.Union(
      [RETURN_CODES.PARAMETER_ERROR, RETURN_CODES.AUTHENTICATION_FAILED, RETURN_CODES.DUPLICATE, RETURN_CODES.NOT_AVAILABLE, RETURN_CODES.QUOTA_EXCEEDED, RETURN_CODES.SYSTEM_ERROR].map(
        (code) => Type.Literal(code),
      ),
    ),
    returnMsg: Type.String(),
  },
  { additionalProperties: false },
);
/** The failure answer (the schema's union of literals is spelled out: a mapped array loses them). */
export interface ChannelFailure {
  returnCode: Exclude<ReturnCode, "00">;
  returnMsg: string;
}

export const CHANNEL_HEADERS = {
  saleChannelId: "x-sale-channel-id",
  signature: "x-signature",
} as const;

export const ChannelHeaders = Type.Object({
  [CHANNEL_HEADERS.saleChannelId]: Type.String({ description: "the sale channel id WHALE answered saleChanneInsert with" }),
  [CHANNEL_HEADERS.signature]: Type.String({ description: "Base64 SHA256withRSA signature of the raw body with the channel's private key" }),
});
