import { randomBytes } from "node:crypto";
import {
  PSBC_CODES,
  PSBC_SERVICE_STATUS,
  PSBC_WIRE,
  type PsbcApi,
  type PsbcEnvelope,
  type PsbcOperation,
  type PsbcServiceStatus,
} from "../order/psbc/wire.js";
import { Faults } from "./faults.js";
import { SandboxControlError, startSandboxServer, stringFields, type Reply, type SandboxEndpoint } from "./sandbox-server.js";
import { memorySandboxStore, oneAtATime, type SandboxStore } from "./sandbox-store.js";

/**
 * A simulator of the PSBC service open platform's outbound APIs, speaking the wire format assumed in
 * `services/order/psbc/wire.ts`. Test equipment: bookings are kept per rights code in its store (memory unless
 * given one).
 *
 * Every answer is HTTP 200 with a `respCode`, as PSBC's gateway is assumed to answer; a bad signature is
 * `100001`, and the "fail" fault answers `999999` (system busy).
 *
 * Besides the platform's paths it serves, unsigned: `POST /_sandbox/faults` `{op, mode, times?, delayMs?}`,
 * `DELETE /_sandbox/faults`, `POST /_sandbox/status` `{code, status}`, `GET /_sandbox/health`.
 */
export interface PsbcSandbox {
  url: string;
  /** The variables a service reads to reach this sandbox as its PSBC (PSBC_BASE_URL, _APP_ID, _APP_SECRET). */
  upstreamEnv(): Record<string, string>;
  faults: Faults<PsbcOperation>;
  /** Calls received per operation, faulted or not. */
  calls: Record<PsbcOperation, number>;
  /** Puts a rights code in a state, as if PSBC had moved it (NOT_FOUND forgets it). */
  setStatus(code: string, status: PsbcServiceStatus): Promise<void>;
  statusOf(code: string): Promise<PsbcServiceStatus>;
  booking(code: string): Promise<PsbcSandboxBooking | undefined>;
  /** The service-complete notices received, in order; a repeated notice appears once. */
  completions(): Promise<PsbcCompletion[]>;
  close(): Promise<void>;
}

export interface PsbcSandboxBooking {
  code: string;
  type: string;
  orderNo: string;
  psbcOrderNo: string;
  status: Exclude<PsbcServiceStatus, "NOT_FOUND">;
}

export interface PsbcCompletion {
  orderNo: string;
  code: string;
  type: string;
  completedAt: string;
  /** ISO 8601. */
  receivedAt: string;
}

export interface PsbcSandboxOptions extends SandboxEndpoint {
  /** Where bookings are kept; in memory when absent. */
  store?: SandboxStore;
}

/** The deterministic answer of the expired-points query: the contract's example. */
export const SANDBOX_EXPIRED_POINTS: PsbcApi["expiredPoints"]["response"] = {
  tranIntglNum: 1000,
  ovdueIntglNum: 200,
  noticeMsg: "您有200幸福点已过期取消后将无法退回",
};

const OPERATIONS = Object.keys(PSBC_WIRE.paths) as PsbcOperation[];
const BOOK_FIELDS = ["orderNo", "code", "type", "mac", "channel", "tranChnl", "instType", "provinceInstNo"] as const;

export async function startPsbcSandbox(options: PsbcSandboxOptions): Promise<PsbcSandbox> {
  const store = options.store ?? memorySandboxStore();
  const bookings = store.records<PsbcSandboxBooking>("psbc.booking");
  /** By rights code: a code completes once. */
  const completions = store.records<PsbcCompletion>("psbc.completion");
  const exclusive = oneAtATime();
  const faults = new Faults<PsbcOperation>(OPERATIONS);
  const calls = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<PsbcOperation, number>;

  const setStatus = (code: string, status: PsbcServiceStatus): Promise<void> =>
    exclusive(async () => {
      if (status === "NOT_FOUND") return bookings.delete(code);
      const booking = await bookings.get(code);
      await bookings.put(code, booking ? { ...booking, status } : { code, type: "", orderNo: "", psbcOrderNo: newPsbcOrderNo(), status });
    });

  const handle = async (op: PsbcOperation, body: Record<string, unknown>): Promise<Reply> => {
    switch (op) {
      case "book": {
        const input = stringFields(body, BOOK_FIELDS);
        if (!input) return PARAMETER_INVALID;
        const known = await bookings.get(input.code);
        if (known) {
          return known.status === "BOOKED" ? ok({ psbcOrderNo: known.psbcOrderNo }) : stateInvalid(known.status);
        }
        const booking = { code: input.code, type: input.type, orderNo: input.orderNo, psbcOrderNo: newPsbcOrderNo(), status: "BOOKED" as const };
        await bookings.put(input.code, booking);
        return ok({ psbcOrderNo: booking.psbcOrderNo });
      }
      case "status": {
        const input = stringFields(body, ["code", "type"]);
        if (!input) return PARAMETER_INVALID;
        return ok({ srvStatus: PSBC_SERVICE_STATUS[(await bookings.get(input.code))?.status ?? "NOT_FOUND"] });
      }
      case "cancel": {
        const input = stringFields(body, ["orderNo", "code", "type"]);
        if (!input) return PARAMETER_INVALID;
        const booking = await bookings.get(input.code);
        if (!booking) return NOT_BOOKED;
        if (booking.status === "CANCELLED") return ok({});
        if (booking.status !== "BOOKED") return stateInvalid(booking.status);
        await bookings.put(input.code, { ...booking, status: "CANCELLED" });
        return ok({});
      }
      case "expiredPoints": {
        if (!stringFields(body, ["code", "type", "mac"])) return PARAMETER_INVALID;
        return ok(SANDBOX_EXPIRED_POINTS);
      }
      case "complete": {
        const input = stringFields(body, ["orderNo", "code", "type", "completedAt"]);
        if (!input || !/^\d{14}$/.test(input.completedAt)) return PARAMETER_INVALID;
        const booking = await bookings.get(input.code);
        if (!booking) return NOT_BOOKED;
        if (booking.status === "COMPLETED") return ok({});
        if (booking.status !== "BOOKED") return stateInvalid(booking.status);
        await bookings.put(input.code, { ...booking, status: "COMPLETED" });
        await completions.put(input.code, { ...input, receivedAt: new Date().toISOString() });
        return ok({});
      }
    }
  };

  const server = await startSandboxServer({
    name: "psbc",
    endpoint: options,
    faults,
    calls,
    paths: PSBC_WIRE.paths,
    replies: {
      signatureInvalid: envelope(PSBC_CODES.SIGNATURE_INVALID, "签名验证失败"),
      parameterInvalid: PARAMETER_INVALID,
      busy: envelope(PSBC_CODES.SYSTEM_BUSY, "系统繁忙，请稍后再试"),
    },
    handle: (op, body) => exclusive(() => handle(op, body)),
    control: {
      "/_sandbox/status": async (body) => {
        const input = typeof body === "object" && body !== null ? stringFields(body as Record<string, unknown>, ["code", "status"]) : undefined;
        if (!input || !Object.hasOwn(PSBC_SERVICE_STATUS, input.status)) {
          throw new SandboxControlError(`expected { code, status: ${Object.keys(PSBC_SERVICE_STATUS).join(" | ")} }`);
        }
        await setStatus(input.code, input.status as PsbcServiceStatus);
        return { status: 200, body: { ok: true } };
      },
    },
  });
  options.logger?.info({ url: server.url }, "PSBC sandbox listening");

  return {
    url: server.url,
    upstreamEnv: () => ({ PSBC_BASE_URL: server.url, PSBC_APP_ID: options.appId, PSBC_APP_SECRET: options.appSecret }),
    faults,
    calls,
    setStatus,
    statusOf: async (code) => (await bookings.get(code))?.status ?? "NOT_FOUND",
    booking: (code) => bookings.get(code),
    completions: () => completions.list(),
    close: () => server.close(),
  };
}

function envelope<T>(respCode: string, respMsg: string, data?: T): Reply {
  const body: PsbcEnvelope<T> = data === undefined ? { respCode, respMsg } : { respCode, respMsg, data };
  return { status: 200, body };
}

function ok<T>(data: T): Reply {
  return envelope(PSBC_CODES.SUCCESS, "成功", data);
}

function stateInvalid(status: PsbcServiceStatus): Reply {
  return envelope(PSBC_CODES.SERVICE_STATE_INVALID, `服务状态不允许此操作: ${status}`);
}

const PARAMETER_INVALID = envelope(PSBC_CODES.PARAMETER_INVALID, "参数错误");
const NOT_BOOKED = envelope(PSBC_CODES.SERVICE_NOT_BOOKED, "服务未预约");

function newPsbcOrderNo(): string {
  return `PS${Date.now().toString(36).toUpperCase()}${randomBytes(6).toString("hex").toUpperCase()}`;
}
