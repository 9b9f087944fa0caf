import { randomBytes } from "node:crypto";
import { SMS_CODES, SMS_CONTENT_MAX_LENGTH, SMS_MOBILE, SMS_WIRE, type SmsEnvelope, type SmsOperation } from "../notify/sms/wire.js";
import { Faults } from "./faults.js";
import { startSandboxServer, stringFields, type Reply, type SandboxEndpoint } from "./sandbox-server.js";
import { memorySandboxStore, oneAtATime, type SandboxStore } from "./sandbox-store.js";

/**
 * A simulator of the SMS gateway, speaking the wire format assumed in `services/notify/sms/wire.ts`. Test
 * equipment: it sends nothing, it keeps each message by outId in its store (memory unless given one), so a
 * test sees what would have reached which phone.
 *
 * Every answer is HTTP 200 with a `code`: a bad signature `1001`, a malformed body or number `1002`, the
 * "fail" fault `9999` (busy), the "reject" fault `1002`. Besides the send path it serves, unsigned:
 * `POST /_sandbox/faults` `{op: "send", mode, times?, delayMs?}`, `DELETE /_sandbox/faults`, `GET /_sandbox/health`.
 */
export interface SmsSandbox {
  url: string;
  /** The variables the notify service reads to reach this sandbox as its SMS gateway. */
  upstreamEnv(): Record<string, string>;
  faults: Faults<SmsOperation>;
  /** Calls received per operation, faulted or not. */
  calls: Record<SmsOperation, number>;
  /** The messages taken, in order; a repeated outId appears once. */
  messages(): Promise<SmsSandboxMessage[]>;
  close(): Promise<void>;
}

export interface SmsSandboxMessage {
  outId: string;
  smsId: string;
  mobile: string;
  content: string;
  /** ISO 8601. */
  receivedAt: string;
}

export interface SmsSandboxOptions extends SandboxEndpoint {
  store?: SandboxStore;
}

export async function startSmsSandbox(options: SmsSandboxOptions): Promise<SmsSandbox> {
  const store = options.store ?? memorySandboxStore();
  const messages = store.records<SmsSandboxMessage>("sms.message");
  const exclusive = oneAtATime();
  const faults = new Faults<SmsOperation>(["send"]);
  const calls: Record<SmsOperation, number> = { send: 0 };

  const send = async (body: Record<string, unknown>): Promise<Reply> => {
    const input = stringFields(body, ["outId", "mobile"], 64);
    const content = body.content;
    if (!input || typeof content !== "string" || content.length === 0 || [...content].length > SMS_CONTENT_MAX_LENGTH) return PARAMETER_INVALID;
    if (!SMS_MOBILE.test(input.mobile)) return envelope(SMS_CODES.MOBILE_REFUSED, "号码不可用");
    // Idempotent by outId: a repeat answers the first send.
    const known = await messages.get(input.outId);
    if (known) return ok(known.smsId);
    const smsId = `SMS${randomBytes(8).toString("hex").toUpperCase()}`;
    await messages.put(input.outId, { outId: input.outId, smsId, mobile: input.mobile, content, receivedAt: new Date().toISOString() });
    return ok(smsId);
  };

  const server = await startSandboxServer({
    name: "sms",
    endpoint: options,
    faults,
    calls,
    paths: SMS_WIRE.paths,
    replies: {
      signatureInvalid: envelope(SMS_CODES.SIGNATURE_INVALID, "签名错误"),
      parameterInvalid: PARAMETER_INVALID,
      busy: envelope(SMS_CODES.BUSY, "系统繁忙"),
    },
    handle: (_op, body) => exclusive(() => send(body)),
  });
  options.logger?.info({ url: server.url }, "SMS sandbox listening");

  return {
    url: server.url,
    upstreamEnv: () => ({ SMS_BASE_URL: server.url, SMS_APP_ID: options.appId, SMS_APP_SECRET: options.appSecret }),
    faults,
    calls,
    messages: () => messages.list(),
    close: () => server.close(),
  };
}

function envelope(code: string, message: string, data?: { smsId: string }): Reply {
  const body: SmsEnvelope<{ smsId: string }> = data === undefined ? { code, message } : { code, message, data };
  return { status: 200, body };
}

function ok(smsId: string): Reply {
  return envelope(SMS_CODES.SUCCESS, "成功", { smsId });
}

const PARAMETER_INVALID = envelope(SMS_CODES.PARAMETER_INVALID, "参数错误");
