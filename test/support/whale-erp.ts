// The WHALE back office as an ERP calls it: signed posts to /whale/erp/<action>, every answer checked against
// the contract file (gateway/whale-erp/whale-erp-openapi.json, written from the served document).
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import { expect } from "vitest";
import { erpCallHeaders } from "../../services/voucher/catalogue/erp-signature.js";
import { SANDBOX_ERP } from "../../services/sandbox/credentials.js";

export const WHALE_ERP_CONTRACT_URL = new URL("../../gateway/whale-erp/whale-erp-openapi.json", import.meta.url);
export const SANDBOX_ERP_APP = { appId: SANDBOX_ERP.appId, secret: process.env.ERP_SANDBOX_SECRET ?? SANDBOX_ERP.secret };

interface ContractDoc {
  paths: Record<string, { post?: { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> } }>;
}

let contract: { doc: ContractDoc; ajv: Ajv; validators: Map<string, ValidateFunction> } | undefined;

function loaded() {
  if (!contract) {
    const doc = JSON.parse(readFileSync(WHALE_ERP_CONTRACT_URL, "utf8")) as ContractDoc;
    contract = { doc, ajv: new Ajv({ strict: false, allErrors: true }), validators: new Map() };
  }
  return contract;
}

const ENVELOPE = {
  type: "object",
  required: ["returnCode", "returnMsg"],
  additionalProperties: false,
  properties: { returnCode: { type: "string", enum: ["01", "02", "03", "04", "99"] }, returnMsg: { type: "string", minLength: 1 } },
};

/** Throws unless `body` is an answer the contract file allows for the action (any failure envelope for an unknown one). */
export function assertErpContract(action: string, httpStatus: number, body: unknown): void {
  const c = loaded();
  const where = `/whale/erp/${action} HTTP ${httpStatus}`;
  if (httpStatus !== 200) throw new Error(`${where}: every back-office answer is HTTP 200\nbody: ${JSON.stringify(body)}`);
  const path = `/whale/erp/${action}`;
  let validate = c.validators.get(path);
  if (!validate) {
    const schema = c.doc.paths[path]?.post?.responses?.["200"]?.content?.["application/json"]?.schema ?? ENVELOPE;
    validate = c.ajv.compile(schema as object);
    c.validators.set(path, validate);
  }
  if (!validate(body)) throw new Error(`${where}: ${c.ajv.errorsText(validate.errors)}\nbody: ${JSON.stringify(body)}`);
  const code = (body as { returnCode?: unknown }).returnCode;
  const msg = (body as { returnMsg?: unknown }).returnMsg;
  if ((code === "00") !== (msg === "SUCCESS")) throw new Error(`${where}: returnMsg SUCCESS goes with returnCode 00 only\nbody: ${JSON.stringify(body)}`);
}

export interface ErpAnswer {
  returnCode: string;
  returnMsg: string;
  [field: string]: unknown;
}

export interface ErpPostOptions {
  app?: { appId: string; secret: string };
  /** Sent as is instead of JSON.stringify(body). */
  rawBody?: string | Buffer;
  /** Replace or remove (undefined) headers after signing. */
  headers?: Record<string, string | undefined>;
  now?: number;
  nonce?: string;
  /** Sign another path, or other bytes, than those posted (a tampered call). */
  signedPath?: string;
  signedBody?: string;
}

/** Posts a signed call (as the sandbox app unless told) and checks the answer against the contract file. */
export async function erpPost(gatewayUrl: string, action: string, body: unknown, options: ErpPostOptions = {}): Promise<ErpAnswer> {
  const path = `/whale/erp/${action}`;
  const raw = options.rawBody ?? JSON.stringify(body);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    ...erpCallHeaders(options.app ?? SANDBOX_ERP_APP, options.signedPath ?? path, options.signedBody ?? raw, options.now, options.nonce),
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const response = await fetch(`${gatewayUrl}${path}`, { method: "POST", headers, body: raw, signal: AbortSignal.timeout(20_000) });
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const answer = (await response.json()) as ErpAnswer;
  assertErpContract(action, response.status, answer);
  return answer;
}

/** An ERP time (yyyyMMddHHmmss) for `daysFromNow`. */
export function erpTime(daysFromNow = 0): string {
  const d = new Date(Date.now() + 8 * 3_600_000 + daysFromNow * 86_400_000);
  return d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

let counter = 0;
/** A name or key no other test (or earlier run on the same servers) used. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${process.pid.toString(36)}${counter}`;
}

/** `erpPost` that expects returnCode 00 (the failure's message in the assertion) and answers the answer. */
export async function erpOk(gatewayUrl: string, action: string, body: unknown): Promise<ErpAnswer> {
  const answer = await erpPost(gatewayUrl, action, body);
  expect(answer, `${action}: ${answer.returnMsg}`).toMatchObject({ returnCode: "00" });
  return answer;
}

/**
 * What an ERP sets up before a sale channel's first make-code: the sale channel with the channel's public key
 * (SPKI DER, Base64), a send channel of `sendChannelConfig`, a template of it, and an activity offering it.
 */
export async function setUpMakeCodeOffer(
  gatewayUrl: string,
  setup: { channelPublicKey: KeyObject; sendChannelName?: string; sendChannelConfig: Record<string, unknown> },
): Promise<{ sale: ErpAnswer; send: ErpAnswer; template: ErpAnswer; activity: ErpAnswer }> {
  const ok = (action: string, body: unknown) => erpOk(gatewayUrl, action, body);
  const sale = await ok("saleChanneInsert", {
    saleChannelName: unique("中信银行"), createTime: erpTime(), updateTime: erpTime(),
    saleChannelConfig: { channelPublicKey: setup.channelPublicKey.export({ type: "spki", format: "der" }).toString("base64") },
  });
  const send = await ok("sendChanneInsert", { sendChannelName: unique(setup.sendChannelName ?? "制码方"), sendChannelConfig: setup.sendChannelConfig });
  const template = await ok("templateInsert", {
    templateName: "COSTA30元代金券", sendChannelId: send.sendChannelId, brandId: 686, productId: Date.now() * 10 + Math.floor(Math.random() * 10),
    ticketType: 1, sendType: 1, faceValue: "000000003000", createTime: erpTime(), updateTime: erpTime(),
  });
  const activity = await ok("activityInsert", {
    activityName: "中信银行星巴克代金券活动", ebuyActivityId: unique("E"), saleChannelId: sale.saleChannelId,
    validStart: erpTime(-1), validEnd: erpTime(60), createTime: erpTime(), updateTime: erpTime(),
  });
  await ok("activityTemplateBind", { activityId: activity.activityId, templateId: template.templateId });
  return { sale, send, template, activity };
}
