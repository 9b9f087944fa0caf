import { randomBytes } from "node:crypto";
import { formatBusinessTime } from "../common/clock.js";
import { encryptCode, ESB_CODES, ESB_WIRE, type EsbOperation } from "../voucher/channels/esb/wire.js";
import { Faults } from "./faults.js";
import { SandboxControlError, startSandboxServer, stringFields, type Reply, type SandboxEndpoint } from "./sandbox-server.js";
import { memorySandboxStore, oneAtATime, type SandboxStore } from "./sandbox-store.js";

/**
 * A simulator of the ESB (`services/voucher/channels/esb/wire.ts`): makes 20-digit codes per sendChannelOrderId
 * (a repeat answers the same), encrypts each with the orderEncryptKey it was sent (the 3DES key, or WHALE's public
 * key for the channel, which WHALE decrypts with its private half), voids and answers their status.
 * Business answers are HTTP 200 with a `returnCode`; a bad signature HTTP 401 / "02"; the "fail" fault HTTP 503 / "98".
 * Unsigned test controls: `POST /_sandbox/faults`, `DELETE /_sandbox/faults`, `POST /_sandbox/redeem` `{code}`,
 * `GET /_sandbox/health`.
 */
export interface EsbSandbox {
  url: string;
  faults: Faults<EsbOperation>;
  calls: Record<EsbOperation, number>;
  /** The last makeCode body received, as sent (to check the seed's fields). */
  lastMakeCode(): Record<string, unknown> | undefined;
  /** The order's codes in clear, as the code maker made them. */
  codes(sendChannelOrderId: string): Promise<EsbSandboxCode[] | undefined>;
  redeem(code: string): Promise<EsbSandboxCode>;
  close(): Promise<void>;
}

export interface EsbSandboxCode {
  code: string;
  status: "NORMAL" | "REDEEMED" | "VOIDED";
  redeemTime?: string;
}

interface EsbSandboxOrder {
  body: string;
  codes: EsbSandboxCode[];
  details: Array<{ codeURL: string; code: string; useTimes: number; status: string; statusDesc: string }>;
  saleChannelItemId: string;
}

export interface EsbSandboxOptions extends SandboxEndpoint {
  store?: SandboxStore;
}

const OPERATIONS = Object.keys(ESB_WIRE.paths) as EsbOperation[];
const MAX_CODES_PER_ORDER = 1_000;

export async function startEsbSandbox(options: EsbSandboxOptions): Promise<EsbSandbox> {
  const store = options.store ?? memorySandboxStore();
  const orders = store.records<EsbSandboxOrder>("esb.order");
  const orderOfCode = store.records<string>("esb.code");
  const exclusive = oneAtATime();
  const faults = new Faults<EsbOperation>(OPERATIONS);
  const calls = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<EsbOperation, number>;
  let last: Record<string, unknown> | undefined;
  let publicUrl = "";

  const findCode = async (code: string): Promise<{ id: string; order: EsbSandboxOrder; at: number } | undefined> => {
    const id = await orderOfCode.get(code);
    const order = id === undefined ? undefined : await orders.get(id);
    const at = order?.codes.findIndex((c) => c.code === code) ?? -1;
    return id !== undefined && order && at >= 0 ? { id, order, at } : undefined;
  };

  const handle = async (op: EsbOperation, body: Record<string, unknown>): Promise<Reply> => {
    switch (op) {
      case "makeCode": {
        last = body;
        const fields = stringFields(body, [
          "saleChannelId", "sendChannelId", "sendChannelOrderId", "whaleTradeNo", "channelMid", "channelTid", "orderEncryptKey", "createDate", "createTime",
        ], 1024);
        const item = Array.isArray(body.items) && body.items.length === 1 ? (body.items[0] as Record<string, unknown>) : undefined;
        const codeNum = item?.codeNum;
        if (!fields || fields.sendChannelOrderId.length > 64 || fields.whaleTradeNo.length > 64 || !/^\d{8}$/.test(fields.createDate) ||
            !/^\d{14}$/.test(fields.createTime) || !item || typeof codeNum !== "number" || !Number.isInteger(codeNum) ||
            codeNum < 1 || codeNum > MAX_CODES_PER_ORDER || typeof item.saleChannelItemId !== "string") {
          return answer(ESB_CODES.PARAMETER_INVALID, "参数错误");
        }
        const raw = JSON.stringify({ ...body, orderEncryptKey: undefined, createDate: undefined, createTime: undefined });
        const known = await orders.get(fields.sendChannelOrderId);
        if (known) {
          if (known.body !== raw) return answer("03", "订单号重复");
          return made(fields.sendChannelOrderId, known);
        }
        const codes = Array.from({ length: codeNum }, (): EsbSandboxCode => ({ code: newCode(), status: "NORMAL" }));
        let details: EsbSandboxOrder["details"];
        try {
          details = codes.map(({ code }) => ({
            codeURL: `${publicUrl}/qr/${code}`,
            code: encryptCode(fields.orderEncryptKey, code),
            useTimes: typeof item.useTimes === "number" ? item.useTimes : 1,
            status: "00",
            statusDesc: "未使用",
          }));
        } catch {
          return answer(ESB_CODES.PARAMETER_INVALID, "orderEncryptKey 无效");
        }
        const order: EsbSandboxOrder = { body: raw, codes, details, saleChannelItemId: item.saleChannelItemId };
        await orders.put(fields.sendChannelOrderId, order);
        for (const { code } of codes) await orderOfCode.put(code, fields.sendChannelOrderId);
        return made(fields.sendChannelOrderId, order);
      }
      case "voidCode":
      case "queryCode": {
        const fields = stringFields(body, ["sendChannelOrderId", "code"], 64);
        if (!fields) return answer(ESB_CODES.PARAMETER_INVALID, "参数错误");
        const found = await findCode(fields.code);
        if (!found || found.id !== fields.sendChannelOrderId) return answer(ESB_CODES.NOT_FOUND, "券码不存在");
        const code = found.order.codes[found.at] as EsbSandboxCode;
        if (op === "queryCode") return ok({ status: code.status, ...(code.redeemTime ? { redeemTime: code.redeemTime } : {}) });
        if (code.status === "REDEEMED") return answer(ESB_CODES.REDEEMED, "券码已核销");
        code.status = "VOIDED";
        await orders.put(found.id, found.order);
        return ok({ status: "VOIDED" });
      }
    }
  };

  const redeem = (code: string): Promise<EsbSandboxCode> =>
    exclusive(async () => {
      const found = await findCode(code);
      if (!found) throw new SandboxControlError(`no code ${code}`);
      const entry = found.order.codes[found.at] as EsbSandboxCode;
      if (entry.status === "VOIDED") throw new SandboxControlError(`code ${code} is voided`);
      entry.status = "REDEEMED";
      entry.redeemTime ??= formatBusinessTime(new Date());
      await orders.put(found.id, found.order);
      return entry;
    });

  const server = await startSandboxServer({
    name: "esb",
    endpoint: options,
    faults,
    calls,
    paths: ESB_WIRE.paths,
    replies: {
      signatureInvalid: answer(ESB_CODES.SIGNATURE_INVALID, "签名错误", 401),
      parameterInvalid: answer(ESB_CODES.PARAMETER_INVALID, "参数错误"),
      busy: answer(ESB_CODES.BUSY, "系统繁忙", 503),
    },
    handle: (op, body) => exclusive(() => handle(op, body)),
    control: {
      "/_sandbox/redeem": async (body) => {
        const code = typeof body === "object" && body !== null ? (body as Record<string, unknown>).code : undefined;
        if (typeof code !== "string") throw new SandboxControlError("expected { code }");
        return { status: 200, body: await redeem(code) };
      },
    },
  });
  publicUrl = server.url;
  options.logger?.info({ url: server.url }, "ESB sandbox listening");
  return {
    url: server.url,
    faults,
    calls,
    lastMakeCode: () => last,
    codes: async (id) => (await orders.get(id))?.codes,
    redeem,
    close: () => server.close(),
  };
}

function made(sendChannelOrderId: string, order: EsbSandboxOrder): Reply {
  return ok({
    sendChannelOrderId,
    codeNum: order.codes.length,
    items: [{ saleChannelItemId: order.saleChannelItemId, itemResultCode: "00", itemResultMsg: "SUCCESS", codeDetail: order.details }],
  });
}

function answer(returnCode: string, returnMsg: string, status = 200): Reply {
  return { status, body: { returnCode, returnMsg } };
}

function ok(data: unknown): Reply {
  return { status: 200, body: { returnCode: ESB_CODES.SUCCESS, returnMsg: "SUCCESS", data } };
}

/** A 20-digit code like the seed's (the code maker's own; not ours to make unguessable). */
function newCode(): string {
  return (BigInt(`0x${randomBytes(9).toString("hex")}`) % 10n ** 20n).toString().padStart(20, "0");
}
