/**
 * The JSON schemas of the back-office API (ERP → WHALE), built from the field rules of
 * services/voucher/catalogue/fields.ts: request bodies are validated by ajv, answers serialised from them, the
 * served OpenAPI document generated from them, and the TypeScript types derived from them (`Static`).
 * Each field's `description` states its rule: a parameter error's returnMsg quotes it.
 */
import { Type, type TObject, type TProperties } from "typebox";
import {
  ERP_TIME_PATTERN,
  FACE_VALUE_PATTERN,
  ID_PATTERN,
  MAX_JSON_ID,
  MAX_LENGTH,
  PRINTABLE,
  URL_PATTERN,
} from "../../services/voucher/catalogue/fields.js";

/** The answer codes (the contract's table, README "Voucher platform (WHALE): back office"). */
export const RETURN_CODES = {
  SUCCESS: "00",
  PARAMETER_ERROR: "01",
  AUTHENTICATION_FAILED: "02",
  DUPLICATE: "03",
  REFERENCE_INVALID: "04",
  SYSTEM_ERROR: "99",
} as const;
export type ReturnCode = (typeof RETURN_CODES)[keyof typeof RETURN_CODES];

export const RETURN_CODE_TABLE = `| returnCode | meaning | returnMsg |
|---|---|---|
| 00 | success | SUCCESS |
| 01 | parameter error: a field missing, of the wrong type, too long, in the wrong format; unknown action, bad JSON, body too large, wrong content type | names the field and the rule broken |
| 02 | authentication failed: X-App-Id unknown or disabled, X-Timestamp outside ±5 min, X-Nonce malformed or used within 10 min, X-Signature wrong, action not granted to the app | what failed |
| 03 | duplicate: a unique key already used (ebuyActivityId, productId, a channel's name) | the key |
| 04 | a referenced or named record missing, or inactive where an active one is needed | the record |
| 99 | system error | system error |

Every answer is HTTP 200 with this envelope.`;

/** A required text field of 1..max printable characters. */
export const text = (max: number, rule: string) =>
  Type.String({ minLength: 1, maxLength: max, pattern: `^${PRINTABLE}*$`, description: `${rule}; no control characters` });

/** An optional text field: may be empty. */
export const optionalText = (max: number, rule: string) =>
  Type.Optional(Type.String({ maxLength: max, pattern: `^${PRINTABLE}*$`, description: `${rule}; no control characters` }));

export const erpTime = (what: string) =>
  Type.String({ pattern: ERP_TIME_PATTERN, format: "erp-time", maxLength: 14, description: `${what}: yyyyMMddHHmmss, a real date and time (Asia/Shanghai)` });

export const yesNo = Type.Optional(Type.Union([Type.Literal("Y"), Type.Literal("N")], { description: "Y or N; absent means Y" }));

/** An id the seed types as String (saleChannelId, activityId). */
export const stringId = (what: string) =>
  Type.String({ pattern: ID_PATTERN, maxLength: 16, description: `${what}: decimal digits, as WHALE answered it` });

/** An id the seed types as Long (sendChannelId, templateId, brandId, productId). */
export const longId = (what: string) => Type.Integer({ minimum: 1, maximum: MAX_JSON_ID, description: `${what}: a positive integer (Long)` });

export const url = (what: string) =>
  Type.Optional(Type.String({ maxLength: MAX_LENGTH.url, pattern: URL_PATTERN, description: `${what}: an http(s) URL, fewer than ${MAX_LENGTH.url + 1} characters` }));

export const key = (what: string) =>
  Type.Optional(
    Type.String({
      maxLength: MAX_LENGTH.key,
      pattern: "^[-A-Za-z0-9+/=\\s]*$",
      description: `${what}: an RSA key, PEM or Base64 DER (public: SubjectPublicKeyInfo; private: PKCS#8)`,
    }),
  );

export const faceValue = Type.String({ pattern: FACE_VALUE_PATTERN, maxLength: 12, description: "12 digits, in fen (分), e.g. 000000003000" });
export const ticketType = Type.Integer({ minimum: 1, maximum: 4, description: "1 代金券, 2 折抵券, 3 产品抵用券, 4 复合产品券" });
/** The seed's table types it String, its example a number: both are accepted. */
export const sendType = Type.Union([Type.Literal("1"), Type.Literal("2"), Type.Literal(1), Type.Literal(2)], {
  description: "1 接口 (per call), 2 批导 (bulk); \"1\"/\"2\" or 1/2",
});

/** activityConfig, templateConfig (the seed shows the same three fields for both). */
export const ErpConfig = Type.Object(
  {
    channelPublicKey: key("channelPublicKey"),
    whalePublicKey: key("whalePublicKey"),
    verifyNotifyURL: url("verifyNotifyURL"),
  },
  { additionalProperties: false },
);

/** A request body: no field beyond the contract's (a misspelt optional field would otherwise pass unnoticed). */
export const body = <P extends TProperties>(properties: P) => Type.Object(properties, { additionalProperties: false });

const envelope = { returnCode: Type.String({ maxLength: 2 }), returnMsg: Type.String() };

/** A failure: returnCode 01, 02, 03, 04 or 99 and a message. */
export const ErpFailure = Type.Object(
  {
    returnCode: Type.Union(
      [RETURN_CODES.PARAMETER_ERROR, RETURN_CODES.AUTHENTICATION_FAILED, RETURN_CODES.DUPLICATE, RETURN_CODES.REFERENCE_INVALID, RETURN_CODES.SYSTEM_ERROR].map(
        (code) => Type.Literal(code),
      ),
    ),
    returnMsg: Type.String(),
  },
  { additionalProperties: false },
);

/** Success: returnCode 00, returnMsg SUCCESS, and the action's own fields. */
export function erpSuccess(answer: TObject) {
  return Type.Object(
    { returnCode: Type.Literal(RETURN_CODES.SUCCESS), returnMsg: Type.Literal("SUCCESS"), ...answer.properties },
    { additionalProperties: false },
  );
}

export const ErpEnvelope = Type.Object(envelope);
