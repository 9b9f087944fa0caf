import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Logger } from "../common/logger.js";
import {
  BLUE_BROTHERS_CODES,
  BLUE_BROTHERS_ISSUE_MAX_LENGTH,
  BLUE_BROTHERS_WIRE,
  type BlueBrothersEnvelope,
  type BlueBrothersOperation,
} from "../common/upstream-wire.js";
import { VOUCHER_URL_MAX_LENGTH } from "../voucher/send-channel.js";
import { Faults } from "./faults.js";
import { SandboxControlError, startSandboxServer, stringFields, type Reply } from "./sandbox-server.js";

/**
 * A simulator of Blue Brothers (蓝色兄弟), speaking the wire format assumed in
 * `services/common/upstream-wire.ts`. Test equipment: vouchers live in memory, per outOrderNo.
 *
 * Business answers are HTTP 200 with a `code`; a bad signature is HTTP 401 / 40101; the "fail" fault answers
 * HTTP 503 / 50301. Each voucher's URL is `<publicUrl>/redeem/<voucherNo>`, a page where a person can redeem it.
 *
 * Besides the platform's paths it serves, unsigned: `POST /_sandbox/faults` `{op, mode, times?, delayMs?}`,
 * `DELETE /_sandbox/faults`, `POST /_sandbox/redeem` `{voucherNo}`, `GET /_sandbox/health`.
 */
export interface BlueBrothersSandbox {
  url: string;
  faults: Faults<BlueBrothersOperation>;
  /** Calls received per operation, faulted or not. */
  calls: Record<BlueBrothersOperation, number>;
  /** The customer redeems the voucher (as on its page); throws for an unknown or voided voucher. */
  redeem(voucherNo: string): SandboxVoucher;
  voucher(outOrderNo: string): SandboxVoucher | undefined;
  close(): Promise<void>;
}

export interface SandboxVoucher {
  outOrderNo: string;
  voucherNo: string;
  url: string;
  templateId: string;
  rightsCode: string;
  customerRef: string;
  /** Named as the contract's voucher key statuses (1 normal, 2 redeemed, 3 voided). */
  status: "NORMAL" | "REDEEMED" | "VOIDED";
  issuedAt: Date;
  redeemedAt?: Date;
  voidedAt?: Date;
}

export interface BlueBrothersSandboxOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  appId: string;
  appSecret: string;
  /** Where customers reach this sandbox, for the voucher URLs; default the address it listens on. */
  publicUrl?: string;
  logger?: Logger;
}

const OPERATIONS = Object.keys(BLUE_BROTHERS_WIRE.paths) as BlueBrothersOperation[];
const REDEEM_PAGE = /^\/redeem\/([0-9A-Za-z]{1,32})$/;

export async function startBlueBrothersSandbox(options: BlueBrothersSandboxOptions): Promise<BlueBrothersSandbox> {
  const byOrder = new Map<string, SandboxVoucher>();
  const byVoucherNo = new Map<string, SandboxVoucher>();
  /** Orders voided before any voucher was issued for them: a late issue must not bring them back. */
  const voidedUnissued = new Set<string>();
  const faults = new Faults<BlueBrothersOperation>(OPERATIONS);
  const calls = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<BlueBrothersOperation, number>;
  let publicUrl = "";

  const redeem = (voucherNo: string): SandboxVoucher => {
    const voucher = byVoucherNo.get(voucherNo);
    if (!voucher) throw new SandboxControlError(`no voucher ${voucherNo}`);
    if (voucher.status === "VOIDED") throw new SandboxControlError(`voucher ${voucherNo} is voided`);
    if (voucher.status === "NORMAL") {
      voucher.status = "REDEEMED";
      voucher.redeemedAt = new Date();
    }
    return { ...voucher };
  };

  const handle = (op: BlueBrothersOperation, body: Record<string, unknown>): Reply => {
    switch (op) {
      case "issue": {
        const input = stringFields(body, ["outOrderNo", "templateId", "rightsCode", "customerRef"]);
        const limits = Object.entries(BLUE_BROTHERS_ISSUE_MAX_LENGTH) as Array<[keyof typeof BLUE_BROTHERS_ISSUE_MAX_LENGTH, number]>;
        if (!input || limits.some(([name, max]) => input[name].length > max)) return PARAMETER_INVALID;
        if (voidedUnissued.has(input.outOrderNo)) return answer(BLUE_BROTHERS_CODES.OUT_ORDER_VOIDED, "订单已作废");
        const known = byOrder.get(input.outOrderNo);
        if (known) {
          if (known.templateId !== input.templateId || known.rightsCode !== input.rightsCode) {
            return answer(BLUE_BROTHERS_CODES.OUT_ORDER_CONFLICT, "外部订单号已用于其他券");
          }
          if (known.status === "VOIDED") return answer(BLUE_BROTHERS_CODES.OUT_ORDER_VOIDED, "订单已作废");
          return ok({ voucherNo: known.voucherNo, url: known.url });
        }
        const voucherNo = newVoucherNo();
        const voucher: SandboxVoucher = { ...input, voucherNo, url: `${publicUrl}/redeem/${voucherNo}`, status: "NORMAL", issuedAt: new Date() };
        byOrder.set(voucher.outOrderNo, voucher);
        byVoucherNo.set(voucherNo, voucher);
        return ok({ voucherNo, url: voucher.url });
      }
      case "void": {
        const input = stringFields(body, ["outOrderNo"], 64);
        const voucherNo = body.voucherNo;
        // An empty voucherNo is allowed: we void by order when an issue's outcome never reached us.
        if (!input || typeof voucherNo !== "string") return PARAMETER_INVALID;
        const voucher = byOrder.get(input.outOrderNo);
        if (!voucher) {
          voidedUnissued.add(input.outOrderNo);
          return ok({ status: "VOIDED" });
        }
        if (voucherNo !== "" && voucherNo !== voucher.voucherNo) {
          return answer(BLUE_BROTHERS_CODES.VOUCHER_NOT_FOUND, "券码与订单不符");
        }
        if (voucher.status === "REDEEMED") return answer(BLUE_BROTHERS_CODES.VOUCHER_REDEEMED, "券码已核销");
        if (voucher.status === "NORMAL") {
          voucher.status = "VOIDED";
          voucher.voidedAt = new Date();
        }
        return ok({ status: "VOIDED" });
      }
    }
  };

  const server = await startSandboxServer({
    name: "blue-brothers",
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    logger: options.logger,
    credentials: { appId: options.appId, appSecret: options.appSecret },
    faults,
    calls,
    paths: BLUE_BROTHERS_WIRE.paths,
    replies: {
      signatureInvalid: answer(BLUE_BROTHERS_CODES.SIGNATURE_INVALID, "signature invalid", 401),
      parameterInvalid: PARAMETER_INVALID,
      busy: answer(BLUE_BROTHERS_CODES.SERVICE_UNAVAILABLE, "service unavailable", 503),
    },
    handle,
    control: {
      "/_sandbox/redeem": (body) => {
        const voucherNo = typeof body === "object" && body !== null ? (body as Record<string, unknown>).voucherNo : undefined;
        if (typeof voucherNo !== "string") throw new SandboxControlError("expected { voucherNo }");
        return { status: 200, body: redeem(voucherNo) };
      },
    },
    page(req, res, path) {
      const voucherNo = REDEEM_PAGE.exec(path)?.[1];
      if (!voucherNo) return false;
      if (req.method === "POST") {
        req.resume(); // the form's body carries nothing we need
        try {
          redeem(voucherNo);
        } catch (err) {
          if (!(err instanceof SandboxControlError)) throw err;
        }
      }
      redeemPage(res, byVoucherNo.get(voucherNo));
      return true;
    },
  });
  publicUrl = (options.publicUrl ?? server.url).replace(/\/+$/, "");
  if (`${publicUrl}/redeem/${newVoucherNo()}`.length > VOUCHER_URL_MAX_LENGTH) {
    options.logger?.warn({ publicUrl }, `Blue Brothers sandbox: voucher URLs will exceed ${VOUCHER_URL_MAX_LENGTH} characters`);
  }
  options.logger?.info({ url: server.url, publicUrl }, "Blue Brothers sandbox listening");

  return {
    url: server.url,
    faults,
    calls,
    redeem,
    voucher: (outOrderNo) => {
      const voucher = byOrder.get(outOrderNo);
      return voucher && { ...voucher };
    },
    close: () => server.close(),
  };
}

function answer(code: number, message: string, status = 200): Reply {
  const body: BlueBrothersEnvelope<never> = { code, message };
  return { status, body };
}

function ok<T>(data: T): Reply {
  const body: BlueBrothersEnvelope<T> = { code: BLUE_BROTHERS_CODES.SUCCESS, message: "success", data };
  return { status: 200, body };
}

const PARAMETER_INVALID = answer(BLUE_BROTHERS_CODES.PARAMETER_INVALID, "parameter invalid");

/** Short enough that any sensible public URL keeps the voucher URL within the contract's 125 characters. */
function newVoucherNo(): string {
  return `BB${randomBytes(8).toString("hex").toUpperCase()}`;
}

/** The customer's page: the voucher's state and, while it is usable, a button that redeems it. */
function redeemPage(res: ServerResponse, voucher: SandboxVoucher | undefined): void {
  const content = !voucher
    ? "<p>No such voucher.</p>"
    : `<p>Voucher ${voucher.voucherNo}: ${voucher.status}</p>` +
      (voucher.status === "NORMAL" ? `<form method="post"><button type="submit">Redeem</button></form>` : "");
  const html = `<!doctype html><meta charset="utf-8"><title>Blue Brothers sandbox</title>${content}`;
  res.writeHead(voucher ? 200 : 404, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(html) });
  res.end(html);
}
