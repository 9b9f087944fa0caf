import { randomBytes } from "node:crypto";
import { systemClock, type Clock } from "../common/clock.js";
import {
  BLUE_BROTHERS_CODES,
  BLUE_BROTHERS_ISSUE_MAX_LENGTH,
  BLUE_BROTHERS_URL_MAX_LENGTH,
  BLUE_BROTHERS_WIRE,
  type BlueBrothersEnvelope,
  type BlueBrothersOperation,
} from "../voucher/channels/blue-brothers/wire.js";
import {
  BLUE_BROTHERS_QUERY_WIRE,
  CALLBACK_ANSWERS,
  signedRedemptionNotice,
  type BlueBrothersQueryApi,
  type RedemptionNotice,
} from "../voucher/channels/blue-brothers/callback-wire.js";
import { Faults } from "./faults.js";
import { SandboxControlError, startSandboxServer, stringFields, type HtmlPage, type Reply, type SandboxEndpoint } from "./sandbox-server.js";
import { memorySandboxStore, oneAtATime, type SandboxStore } from "./sandbox-store.js";

/**
 * A simulator of Blue Brothers (蓝色兄弟), speaking the wire format assumed in
 * `services/voucher/channels/blue-brothers/wire.ts`. Test equipment: vouchers are kept per outOrderNo (the code order's
 * tradeNo WHALE asks under) in its store (memory unless given one), and found by their number too.
 *
 * Business answers are HTTP 200 with a `code`; a bad signature is HTTP 401 / 40101; the "fail" fault answers
 * HTTP 503 / 50301. Each voucher's URL is `<publicUrl>/redeem/<voucherNo>`, a page where a person can redeem it.
 *
 * Besides the platform's paths it serves, unsigned: `POST /_sandbox/faults` `{op, mode, times?, delayMs?}`,
 * `DELETE /_sandbox/faults`, `POST /_sandbox/redeem` `{voucherNo}`, `POST /_sandbox/callbacks` `{enabled?, url?}`,
 * `POST /_sandbox/resend` `{voucherNo, how: "replay"|"retry"}`, `GET /_sandbox/health`.
 *
 * A redemption (page, control endpoint or `redeem()`) sends the signed redemption notice of
 * `services/voucher/channels/blue-brothers/callback-wire.ts` to `callbacks.url` when set and enabled, retried a few times
 * with backoff until it is answered `0000`, as Blue Brothers would.
 */
export interface BlueBrothersSandbox {
  url: string;
  /** The variables a service reads to reach this sandbox as its Blue Brothers (BLUE_BROTHERS_BASE_URL, _APP_ID, _APP_SECRET). */
  upstreamEnv(): Record<string, string>;
  faults: Faults<SandboxOperation>;
  /** Calls received per operation, faulted or not. */
  calls: Record<SandboxOperation, number>;
  /** Where redemption notices go (our gateway's callback URL), and whether they are sent at all. */
  callbacks: { url: string | undefined; enabled: boolean };
  /** Notices answered `0000` by the receiver, and attempts that were not. */
  notices: { delivered: number; failed: number };
  /**
   * Sends a redeemed voucher's notice once more and answers what the receiver answered: `"replay"` the very
   * request last sent (body, timestamp and nonce), as a replaying attacker would; `"retry"` the same notice
   * signed anew, as Blue Brothers retries one. Rejects for a voucher whose notice was never sent.
   */
  resendNotice(voucherNo: string, how: "replay" | "retry"): Promise<{ status: number; body: unknown }>;
  /** The customer redeems the voucher (as on its page); rejects for an unknown or voided voucher. */
  redeem(voucherNo: string): Promise<SandboxVoucher>;
  /** The voucher made under an outOrderNo (a WHALE make-code's tradeNo, or `<tradeNo>.<i>`; our order number before). */
  voucher(outOrderNo: string): Promise<SandboxVoucher | undefined>;
  /** The voucher of a number (what our rows keep). */
  voucherByNo(voucherNo: string): Promise<SandboxVoucher | undefined>;
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
  /** The redemption notice's id, the same on each of its retries. */
  noticeId?: string;
  /** ISO 8601, as the others. */
  issuedAt: string;
  redeemedAt?: string;
  voidedAt?: string;
}

export interface BlueBrothersSandboxOptions extends SandboxEndpoint {
  /** Where customers reach this sandbox, for the voucher URLs; default the address it listens on. */
  publicUrl?: string;
  /** Where vouchers are kept; in memory when absent. */
  store?: SandboxStore;
  /** Where redemption notices are sent; none when absent (settable later through `callbacks`). */
  callbackUrl?: string;
  /** Attempts per notice (default 5), the first retry after `callbackRetryMs` (default 200), doubling. */
  callbackAttempts?: number;
  callbackRetryMs?: number;
  /** When customers redeem, as the platform's clock reads it (embedded CLOCK_START); the system clock by default. */
  clock?: Clock;
}

type SandboxOperation = BlueBrothersOperation | keyof BlueBrothersQueryApi;
const PATHS = { ...BLUE_BROTHERS_WIRE.paths, ...BLUE_BROTHERS_QUERY_WIRE.paths };
const OPERATIONS = Object.keys(PATHS) as SandboxOperation[];
const REDEEM_PAGE = /^\/redeem\/([0-9A-Za-z]{1,32})$/;

export async function startBlueBrothersSandbox(options: BlueBrothersSandboxOptions): Promise<BlueBrothersSandbox> {
  const store = options.store ?? memorySandboxStore();
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const byOrder = store.records<SandboxVoucher>("blue-brothers.voucher");
  /** voucherNo → outOrderNo. */
  const orderOfVoucher = store.records<string>("blue-brothers.voucher-no");
  /** Orders voided before any voucher was issued for them: a late issue must not bring them back. */
  const voidedUnissued = store.records<true>("blue-brothers.voided-unissued");
  const exclusive = oneAtATime();
  const faults = new Faults<SandboxOperation>(OPERATIONS);
  const calls = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<SandboxOperation, number>;
  let publicUrl = "";
  const callbacks = { url: options.callbackUrl, enabled: true };
  const notices = { delivered: 0, failed: 0 };
  const sending = new Set<Promise<void>>();
  /** The last request sent with each voucher's notice (voucherNo →), for `resendNotice`. */
  const lastSent = new Map<string, { target: string; notice: RedemptionNotice; body: string; headers: Record<string, string> }>();
  let closed = false;

  const send = async (target: string, notice: RedemptionNotice, signed = signedRedemptionNotice({ appId: options.appId, appSecret: options.appSecret }, notice)) => {
    const { body, headers } = signed;
    lastSent.set(notice.voucherNo, { target, notice, body, headers });
    const response = await fetch(target, { method: "POST", body, headers, signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as { code?: unknown } | undefined };
  };

  /** Sends a redemption's notice until answered `0000`, each attempt with a fresh nonce and timestamp. */
  const notify = (voucher: SandboxVoucher): void => {
    const target = callbacks.url;
    if (!target || !callbacks.enabled || !voucher.noticeId || !voucher.redeemedAt) return;
    const notice: RedemptionNotice = {
      noticeId: voucher.noticeId,
      voucherNo: voucher.voucherNo,
      outOrderNo: voucher.outOrderNo,
      status: "REDEEMED",
      redeemedAt: voucher.redeemedAt,
    };
    const attempts = options.callbackAttempts ?? 5;
    const task = (async () => {
      for (let attempt = 0; attempt < attempts && !closed; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, (options.callbackRetryMs ?? 200) * 2 ** (attempt - 1)));
        try {
          const { status, body: answer } = await send(target, notice);
          if (answer?.code === CALLBACK_ANSWERS.SUCCESS.code) {
            notices.delivered += 1;
            return;
          }
          options.logger?.warn({ voucherNo: voucher.voucherNo, status, answer }, "Blue Brothers sandbox: notice refused");
        } catch (err) {
          options.logger?.warn({ voucherNo: voucher.voucherNo, err }, "Blue Brothers sandbox: notice not delivered");
        }
        notices.failed += 1;
      }
    })();
    sending.add(task);
    void task.finally(() => sending.delete(task));
  };

  const byVoucherNo = async (voucherNo: string): Promise<SandboxVoucher | undefined> => {
    const outOrderNo = await orderOfVoucher.get(voucherNo);
    return outOrderNo === undefined ? undefined : byOrder.get(outOrderNo);
  };

  const redeem = (voucherNo: string): Promise<SandboxVoucher> =>
    exclusive(async () => {
      const voucher = await byVoucherNo(voucherNo);
      if (!voucher) throw new SandboxControlError(`no voucher ${voucherNo}`);
      if (voucher.status === "VOIDED") throw new SandboxControlError(`voucher ${voucherNo} is voided`);
      if (voucher.status === "REDEEMED") return voucher;
      const redeemed: SandboxVoucher = {
        ...voucher,
        status: "REDEEMED",
        redeemedAt: now().toISOString(),
        noticeId: `N${randomBytes(8).toString("hex").toUpperCase()}`,
      };
      await byOrder.put(voucher.outOrderNo, redeemed);
      notify(redeemed);
      return redeemed;
    });

  const resendNotice = async (voucherNo: string, how: "replay" | "retry") => {
    const sent = lastSent.get(voucherNo);
    if (!sent) throw new SandboxControlError(`no notice of voucher ${voucherNo} was sent`);
    return how === "replay" ? send(sent.target, sent.notice, sent) : send(sent.target, sent.notice);
  };

  const handle = async (op: SandboxOperation, body: Record<string, unknown>): Promise<Reply> => {
    switch (op) {
      case "issue": {
        const input = stringFields(body, ["outOrderNo", "templateId", "rightsCode", "customerRef"]);
        const limits = Object.entries(BLUE_BROTHERS_ISSUE_MAX_LENGTH) as Array<[keyof typeof BLUE_BROTHERS_ISSUE_MAX_LENGTH, number]>;
        if (!input || limits.some(([name, max]) => input[name].length > max)) return PARAMETER_INVALID;
        if (await voidedUnissued.get(input.outOrderNo)) return answer(BLUE_BROTHERS_CODES.OUT_ORDER_VOIDED, "订单已作废");
        const known = await byOrder.get(input.outOrderNo);
        if (known) {
          if (known.templateId !== input.templateId || known.rightsCode !== input.rightsCode) {
            return answer(BLUE_BROTHERS_CODES.OUT_ORDER_CONFLICT, "外部订单号已用于其他券");
          }
          if (known.status === "VOIDED") return answer(BLUE_BROTHERS_CODES.OUT_ORDER_VOIDED, "订单已作废");
          return ok({ voucherNo: known.voucherNo, url: known.url });
        }
        const voucherNo = newVoucherNo();
        const voucher: SandboxVoucher = {
          ...input,
          voucherNo,
          url: `${publicUrl}/redeem/${voucherNo}`,
          status: "NORMAL",
          issuedAt: now().toISOString(),
        };
        await byOrder.put(voucher.outOrderNo, voucher);
        await orderOfVoucher.put(voucherNo, voucher.outOrderNo);
        return ok({ voucherNo, url: voucher.url });
      }
      case "void": {
        const input = stringFields(body, ["outOrderNo"], 64);
        const voucherNo = body.voucherNo;
        // An empty voucherNo is allowed: we void by order when an issue's outcome never reached us.
        if (!input || typeof voucherNo !== "string") return PARAMETER_INVALID;
        const voucher = await byOrder.get(input.outOrderNo);
        if (!voucher) {
          await voidedUnissued.put(input.outOrderNo, true);
          return ok({ status: "VOIDED" });
        }
        if (voucherNo !== "" && voucherNo !== voucher.voucherNo) {
          return answer(BLUE_BROTHERS_CODES.VOUCHER_NOT_FOUND, "券码与订单不符");
        }
        if (voucher.status === "REDEEMED") return answer(BLUE_BROTHERS_CODES.VOUCHER_REDEEMED, "券码已核销");
        if (voucher.status === "NORMAL") {
          await byOrder.put(voucher.outOrderNo, { ...voucher, status: "VOIDED", voidedAt: now().toISOString() });
        }
        return ok({ status: "VOIDED" });
      }
      case "query": {
        const input = stringFields(body, ["outOrderNo", "voucherNo"], 64);
        if (!input) return PARAMETER_INVALID;
        const voucher = await byOrder.get(input.outOrderNo);
        if (!voucher || voucher.voucherNo !== input.voucherNo) return answer(BLUE_BROTHERS_CODES.VOUCHER_NOT_FOUND, "券码与订单不符");
        return ok({ voucherNo: voucher.voucherNo, status: voucher.status, ...(voucher.redeemedAt ? { redeemedAt: voucher.redeemedAt } : {}) });
      }
    }
  };

  const server = await startSandboxServer({
    name: "blue-brothers",
    endpoint: options,
    faults,
    calls,
    paths: PATHS,
    replies: {
      signatureInvalid: answer(BLUE_BROTHERS_CODES.SIGNATURE_INVALID, "signature invalid", 401),
      parameterInvalid: PARAMETER_INVALID,
      busy: answer(BLUE_BROTHERS_CODES.SERVICE_UNAVAILABLE, "service unavailable", 503),
    },
    handle: (op, body) => exclusive(() => handle(op, body)),
    control: {
      "/_sandbox/redeem": async (body) => {
        const voucherNo = typeof body === "object" && body !== null ? (body as Record<string, unknown>).voucherNo : undefined;
        if (typeof voucherNo !== "string") throw new SandboxControlError("expected { voucherNo }");
        return { status: 200, body: await redeem(voucherNo) };
      },
      "/_sandbox/resend": async (body) => {
        const { voucherNo, how } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
        if (typeof voucherNo !== "string" || (how !== "replay" && how !== "retry")) {
          throw new SandboxControlError('expected { voucherNo, how: "replay" | "retry" }');
        }
        return { status: 200, body: await resendNotice(voucherNo, how) };
      },
      "/_sandbox/callbacks": async (body) => {
        const { enabled, url } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
        if ((enabled !== undefined && typeof enabled !== "boolean") || (url !== undefined && typeof url !== "string")) {
          throw new SandboxControlError("expected { enabled?: boolean, url?: string }");
        }
        if (enabled !== undefined) callbacks.enabled = enabled;
        if (url !== undefined) callbacks.url = url;
        return { status: 200, body: callbacks };
      },
    },
    page(method, path) {
      const voucherNo = REDEEM_PAGE.exec(path)?.[1];
      if (!voucherNo) return undefined;
      return (async () => {
        if (method === "POST") {
          await redeem(voucherNo).catch((err: unknown) => {
            if (!(err instanceof SandboxControlError)) throw err;
          });
        }
        return redeemPage(await byVoucherNo(voucherNo));
      })();
    },
  });
  publicUrl = (options.publicUrl ?? server.url).replace(/\/+$/, "");
  if (`${publicUrl}/redeem/${newVoucherNo()}`.length > BLUE_BROTHERS_URL_MAX_LENGTH) {
    options.logger?.warn({ publicUrl }, `Blue Brothers sandbox: voucher URLs will exceed ${BLUE_BROTHERS_URL_MAX_LENGTH} characters`);
  }
  options.logger?.info({ url: server.url, publicUrl }, "Blue Brothers sandbox listening");

  return {
    url: server.url,
    upstreamEnv: () => ({
      BLUE_BROTHERS_BASE_URL: server.url,
      BLUE_BROTHERS_APP_ID: options.appId,
      BLUE_BROTHERS_APP_SECRET: options.appSecret,
    }),
    faults,
    calls,
    callbacks,
    notices,
    resendNotice,
    redeem,
    voucher: (outOrderNo) => byOrder.get(outOrderNo),
    voucherByNo: byVoucherNo,
    async close() {
      closed = true;
      await Promise.all(sending);
      await server.close();
    },
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
function redeemPage(voucher: SandboxVoucher | undefined): HtmlPage {
  const content = !voucher
    ? "<p>No such voucher.</p>"
    : `<p>Voucher ${voucher.voucherNo}: ${voucher.status}</p>` +
      (voucher.status === "NORMAL" ? `<form method="post"><button type="submit">Redeem</button></form>` : "");
  const html = `<!doctype html><meta charset="utf-8"><title>Blue Brothers sandbox</title>${content}`;
  return { status: voucher ? 200 : 404, html };
}
