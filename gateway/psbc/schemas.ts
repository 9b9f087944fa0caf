/**
 * JSON schemas of the PSBC contract (`psbc-openapi.yaml`) as Fastify uses them: request bodies are validated
 * by ajv, responses are serialised by fast-json-stringify from these schemas, the served OpenAPI document is
 * generated from them, and the TypeScript types are derived from them (`Static`), never written twice.
 */
import { Type, type Static, type TObject } from "typebox";
import { CHANNELS, ENVELOPE_TEXT_RULES, INST_TYPES } from "../../services/order/psbc/envelope.js";

/** A string enum kept as `type: string` + `enum`, so a wrong type and a wrong value are told apart in the log. */
const stringEnum = <Values extends readonly string[]>(values: Values, maxLength: number) =>
  Type.Unsafe<Values[number]>({ type: "string", enum: [...values], maxLength });

/**
 * BaseRequest: the contract's constraints, plus a lower bound where an empty value cannot be meant, and the
 * patterns of `services/order/psbc/envelope.ts` (no control characters, a service type's characters, an http(s) backUrl).
 */
export const PsbcRequest = Type.Object({
  type: Type.String(ENVELOPE_TEXT_RULES.type),
  // The contract sets no bound; a type=…&code=…&mac=… ciphertext in Base64 is far below this.
  request: Type.String({ minLength: 1, maxLength: 4096 }),
  channel: stringEnum(CHANNELS, 4),
  tranChnl: stringEnum(CHANNELS, 4),
  backUrl: Type.Optional(Type.String(ENVELOPE_TEXT_RULES.backUrl)),
  instType: stringEnum(INST_TYPES, 2),
  provinceInstNo: Type.String(ENVELOPE_TEXT_RULES.provinceInstNo),
});

/** The contract's BaseRequest, as the gateway receives it. */
export type PsbcRequest = Static<typeof PsbcRequest>;

const envelopeProperties = {
  code: Type.Integer(),
  msg: Type.String(),
  traceId: Type.String(),
};

/** ErrorResponse: the envelope without data. */
export const PsbcErrorResponse = Type.Object(envelopeProperties);

/** The success envelope around an operation's `data`. */
function successResponse<Data extends TObject>(data: Data) {
  return Type.Object({ ...envelopeProperties, data });
}

export const AppointmentData = Type.Object({
  url: Type.String(),
  tranChnl: Type.String(),
  instType: Type.String(),
  backUrl: Type.Optional(Type.String()),
});

export const CancelData = Type.Object({
  tranChnl: Type.String(),
  instType: Type.String(),
  backUrl: Type.Optional(Type.String()),
});

export const ExpiredPointsData = Type.Object({
  tranIntglNum: Type.Integer(),
  ovdueIntglNum: Type.Integer(),
  noticeMsg: Type.String(),
});

export const ServiceDetailData = Type.Object({
  url: Type.String(),
  backUrl: Type.String(),
});

/** The responses of a PSBC route: its success body, and the error envelope for the contract's error statuses. */
export function psbcResponses<Data extends TObject>(data: Data) {
  return { 200: successResponse(data), 400: PsbcErrorResponse, 500: PsbcErrorResponse };
}
