/**
 * JSON schemas of the PSBC contract (`psbc-openapi.yaml`) as Fastify uses them: request bodies are validated
 * by ajv, responses are serialised by fast-json-stringify from these schemas.
 */

/** The contract's BaseRequest, as the gateway receives it. */
export interface PsbcRequestBody {
  type: string;
  request: string;
  channel: string;
  tranChnl: string;
  backUrl?: string;
  instType: string;
  provinceInstNo: string;
}

const CHANNELS = ["12", "17", "41"];

/** BaseRequest: the contract's constraints, plus a lower bound where an empty value cannot be meant. */
export const baseRequestSchema = {
  type: "object",
  required: ["type", "request", "channel", "tranChnl", "instType", "provinceInstNo"],
  properties: {
    type: { type: "string", minLength: 1, maxLength: 6 },
    // The contract sets no bound; a type=…&code=…&mac=… ciphertext in Base64 is far below this.
    request: { type: "string", minLength: 1, maxLength: 4096 },
    channel: { type: "string", enum: CHANNELS, maxLength: 4 },
    tranChnl: { type: "string", enum: CHANNELS, maxLength: 4 },
    backUrl: { type: "string", maxLength: 256 },
    instType: { type: "string", enum: ["01", "02"], maxLength: 2 },
    provinceInstNo: { type: "string", minLength: 1, maxLength: 20 },
  },
} as const;

const envelopeProperties = {
  code: { type: "integer" },
  msg: { type: "string" },
  traceId: { type: "string" },
} as const;

/** ErrorResponse: the envelope without data. */
export const errorResponseSchema = {
  type: "object",
  required: ["code", "msg", "traceId"],
  properties: envelopeProperties,
} as const;

function successSchema(data: { required: readonly string[]; properties: Record<string, { type: string }> }) {
  return {
    type: "object",
    required: ["code", "msg", "traceId", "data"],
    properties: { ...envelopeProperties, data: { type: "object", ...data } },
  } as const;
}

export const appointmentResponseSchema = successSchema({
  required: ["url", "tranChnl", "instType"],
  properties: { url: { type: "string" }, tranChnl: { type: "string" }, instType: { type: "string" }, backUrl: { type: "string" } },
});

export const cancelResponseSchema = successSchema({
  required: ["tranChnl", "instType"],
  properties: { tranChnl: { type: "string" }, instType: { type: "string" }, backUrl: { type: "string" } },
});

export const expiredPointsResponseSchema = successSchema({
  required: ["tranIntglNum", "ovdueIntglNum", "noticeMsg"],
  properties: { tranIntglNum: { type: "integer" }, ovdueIntglNum: { type: "integer" }, noticeMsg: { type: "string" } },
});

export const serviceDetailResponseSchema = successSchema({
  required: ["url", "backUrl"],
  properties: { url: { type: "string" }, backUrl: { type: "string" } },
});

/** The responses of a PSBC route: its success body, and the error envelope for the contract's error statuses. */
export function psbcResponses(success: object) {
  return { 200: success, 400: errorResponseSchema, 500: errorResponseSchema };
}

export const healthResponseSchema = {
  type: "object",
  required: ["status"],
  properties: { status: { type: "string" } },
} as const;

export const readyResponseSchema = {
  type: "object",
  required: ["status", "failed"],
  properties: { status: { type: "string" }, failed: { type: "array", items: { type: "string" } } },
} as const;
