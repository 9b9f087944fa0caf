import { createCipheriv, randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { reasonOf } from "../services/common/errors.js";
import { OrderError, OrderErrorSchema } from "../services/order/errors.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { assertContractResponse } from "./support/psbc-contract.js";
import {
  freshCode,
  modes,
  PATHS,
  psbcBody,
  SANDBOX_AES,
  startTestPlatform,
  type ContractBody,
  type TestPlatform,
} from "./support/platform.js";

const PARAM_ERROR = { status: 400, code: 2, msg: "参数错误" };
const ROUTES = Object.values(PATHS);
/** Requests of the padding sweep in flight at once: the order service answers them in parallel. */
const SWEEP_CONCURRENCY = 32;

function encryptRaw(plain: string, key = SANDBOX_AES.key): string {
  const cipher = createCipheriv("aes-128-cbc", Buffer.from(key, "latin1"), Buffer.from(SANDBOX_AES.iv, "latin1"));
  return Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]).toString("base64");
}

describe.each(modes)("attacks on the PSBC routes (%s)", (mode) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(mode);
  });
  afterAll(async () => {
    await platform?.close();
  });

  /** Posts a raw body in-process (no socket: thousands of calls stay fast); every answer must be the contract's. */
  async function post(path: string, payload: string | Buffer): Promise<{ status: number; body: ContractBody }> {
    const res = await platform.gateway.inject({ method: "POST", url: path, headers: { "content-type": "application/json" }, payload });
    const body = res.json<ContractBody>();
    assertContractResponse(path, res.statusCode, body);
    return { status: res.statusCode, body };
  }

  const send = (path: string, body: Record<string, unknown>) => post(path, JSON.stringify(body));
  const answerOf = ({ status, body }: { status: number; body: ContractBody }) => ({ status, code: body.code, msg: body.msg });

  async function book(code: string, mac: string) {
    const answer = await send(PATHS.appointment, psbcBody({ code, mac }));
    expect(answerOf(answer)).toEqual({ status: 200, code: 0, msg: "成功" });
  }

  const upstreamCalls = () => ({ ...platform.psbcSandbox.calls, ...platform.blueBrothersSandbox.calls });

  it("answers one identical parameter error for every byte value at the last byte of each block, on every route", async () => {
    // The mac fills the block before the padding block, so a flip there lands in the mac: before the plaintext
    // rules, the one value making valid padding was accepted (200), which is a padding oracle.
    // A short code keeps the ciphertext at four blocks (each platform has its own database and sandboxes).
    const code = randomBytes(5).toString("hex").toUpperCase();
    const prefix = `type=310001&code=${code}&mac=`;
    const mac = "M".repeat(16 + ((16 - (prefix.length % 16)) % 16));
    await book(code, mac);
    const ciphertext = Buffer.from(encryptRaw(prefix + mac), "base64");
    expect(ciphertext.length).toBe(64);
    const tampered: Array<{ path: string; request: string }> = [];
    for (const path of ROUTES) {
      for (let at = 15; at < ciphertext.length; at += 16) {
        for (let value = 0; value < 256; value += 1) {
          if (value === ciphertext[at]) continue;
          const bytes = Buffer.from(ciphertext);
          bytes[at] = value;
          tampered.push({ path, request: bytes.toString("base64") });
        }
      }
    }
    const before = await platform.metrics.undecryptableRequests.get();
    const answers = new Set<string>();
    for (let i = 0; i < tampered.length; i += SWEEP_CONCURRENCY) {
      const batch = tampered.slice(i, i + SWEEP_CONCURRENCY);
      for (const answer of await Promise.all(batch.map(({ path, request }) => send(path, psbcBody({ request }))))) {
        answers.add(JSON.stringify(answerOf(answer)));
      }
    }
    expect([...answers]).toEqual([JSON.stringify(PARAM_ERROR)]);
    const sent = tampered.length;

    const counted = (values: typeof before.values) =>
      values.filter((v) => v.labels.service_type === "310001").reduce((sum, v) => sum + v.value, 0);
    const after = await platform.metrics.undecryptableRequests.get();
    expect(counted(after.values) - counted(before.values)).toBe(sent);
    expect(new Set(after.values.map((v) => v.labels.route))).toEqual(new Set(ROUTES));
  }, 120_000);

  it.each([
    ["type", { body: { type: "31000\u0000" } }],
    ["provinceInstNo", { body: { provinceInstNo: "1000\u00000" } }],
    ["provinceInstNo (a newline)", { body: { provinceInstNo: "1000\n0" } }],
    ["provinceInstNo (a C1 control)", { body: { provinceInstNo: "1000\u00850" } }],
    ["provinceInstNo (a lone surrogate)", { body: { provinceInstNo: "1000\ud8000" } }],
    ["backUrl", { body: { backUrl: "https://mobile.psbc.com/\u0000" } }],
    ["backUrl (a script URL)", { body: { backUrl: "javascript:alert(document.cookie)" } }],
    ["backUrl (no scheme)", { body: { backUrl: "mobile.psbc.com/back" } }],
    ["backUrl (a space)", { body: { backUrl: "https://mobile.psbc.com/ back" } }],
    ["the decrypted mac", { mac: "customer\u00000001" }],
    ["the decrypted mac (a tab)", { mac: "customer\t0001" }],
    ["the decrypted code", { code: "C\u00001" }],
    ["a mac of 129 characters", { mac: "M".repeat(129) }],
  ])("refuses a bad %s on appointment as the parameter error, storing nothing and calling no upstream", async (_what, input) => {
    const code = freshCode();
    const calls = upstreamCalls();
    const answer = await send(PATHS.appointment, psbcBody({ code, ...input }));
    expect(answerOf(answer)).toEqual(PARAM_ERROR);
    expect(await platform.orderRow(code)).toBeUndefined();
    expect(upstreamCalls()).toEqual(calls);
  });

  it("refuses a NUL or script URL sent to the order service directly, past the gateway's schema, storing nothing", async () => {
    const orders = createClient(OrderService, rpcTransport(platform.serviceUrl("order"), { timeoutMs: 5_000 }));
    const code = freshCode();
    const valid = psbcBody({ code }) as Record<string, string>;
    const envelopes = [
      { type: "31000\u0000" },
      { provinceInstNo: "1000\u00000" },
      { backUrl: "javascript:alert(document.cookie)" },
      { channel: "99" },
    ].map((broken) => ({ ...valid, ...broken }));
    for (const envelope of envelopes) {
      const refused = await orders.bookService({ envelope }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(reasonOf(refused, OrderErrorSchema)).toBe(OrderError.PARAMETER_INVALID);
    }
    expect(await platform.orderRow(code)).toBeUndefined();
  });

  it("accepts an empty backUrl and an http one, and hands the URL back as sent", async () => {
    for (const backUrl of ["", "http://mobile.psbc.com/back?from=rights&x=1"]) {
      const answer = await send(PATHS.appointment, psbcBody({ code: freshCode(), body: { backUrl } }));
      expect(answerOf(answer)).toEqual({ status: 200, code: 0, msg: "成功" });
      expect(answer.body.data?.backUrl ?? "").toBe(backUrl);
    }
  });

  it("books a mac of 65 to 128 characters end to end (Blue Brothers once refused more than 64, wedging the code)", async () => {
    for (const length of [65, 128]) {
      const code = freshCode();
      const mac = "m".repeat(length);
      await book(code, mac);
      const order = await platform.orderRow(code);
      expect(order).toMatchObject({ status: 200, mac });
      expect((await platform.blueBrothersSandbox.voucherByNo(String(order?.voucher_no)))?.customerRef).toBe(mac);
    }
  });

  it.each([
    ["PSBC booking", "psbc"],
    ["voucher issue", "blue-brothers"],
  ] as const)("restarts a booking whose %s was refused for good with the next appointment's own request", async (_step, upstream) => {
    const code = freshCode();
    if (upstream === "psbc") platform.psbcSandbox.faults.set("book", { mode: "reject", times: 1 });
    else platform.blueBrothersSandbox.faults.set("issue", { mode: "reject", times: 1 });

    const refused = await send(PATHS.appointment, psbcBody({ code, mac: "refused-mac" }));
    expect(answerOf(refused)).toEqual({ status: 500, code: 1, msg: "系统异常" });
    expect(await platform.orderRow(code)).toMatchObject({ status: 100, mac: "refused-mac" });
    expect((await platform.orderRow(code))?.booking_refused_at).not.toBeNull();

    await book(code, "corrected-mac");
    const order = await platform.orderRow(code);
    expect(order).toMatchObject({ status: 200, mac: "corrected-mac", booking_refused_at: null });
    expect(await platform.psbcSandbox.statusOf(code)).toBe("BOOKED");
    expect((await platform.blueBrothersSandbox.voucherByNo(String(order?.voucher_no)))?.customerRef).toBe("corrected-mac");
  });

  it("keeps the request of a booking that only timed out: a retry resumes it with the first appointment's mac", async () => {
    const code = freshCode();
    platform.blueBrothersSandbox.faults.set("issue", { mode: "fail", times: 1 });
    const failed = await send(PATHS.appointment, psbcBody({ code, mac: "first-mac" }));
    expect(answerOf(failed)).toEqual({ status: 500, code: 1, msg: "系统异常" });
    await book(code, "second-mac");
    expect(await platform.orderRow(code)).toMatchObject({ status: 200, mac: "first-mac", booking_refused_at: null });
  });

  describe("generated requests", () => {
    // Printable text, every kind of control character, lone surrogates, long runs, and JSON's other types.
    const text = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.string({ unit: fc.constantFrom("\u0000", "\n", "\u007f", "\u0085", "\ud800", "&", "=", "é", "中"), maxLength: 8 }),
      fc.string({ minLength: 200, maxLength: 600 }),
    );
    const anyJson = fc.oneof(text, fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
    const validCode = fc.stringMatching(/^[A-Za-z0-9-]{1,32}$/);
    const validMac = fc.stringMatching(/^[A-Za-z0-9+/=_-]{1,128}$/);
    // Weighted towards the well-formed, so that most runs reach decryption, the database and the upstreams.
    const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: other });
    const plaintext = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(mostly(validCode, text), mostly(validMac, text)).map(([code, mac]) => `type=310001&code=${code}&mac=${mac}`) },
      { weight: 1, arbitrary: fc.tuple(validCode, validMac, text).map(([code, mac, extra]) => `type=310001&code=${code}&mac=${mac}&${extra}`) },
      { weight: 1, arbitrary: text },
    );
    const request = fc.oneof(
      { weight: 6, arbitrary: plaintext.map((plain) => encryptRaw(plain)) },
      { weight: 1, arbitrary: plaintext.map((plain) => encryptRaw(plain, "another-key-0000")) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 96 }).map((bytes) => Buffer.from(bytes).toString("base64")) },
      { weight: 1, arbitrary: anyJson },
    );
    const field = (valid: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: valid }, { weight: 1, arbitrary: anyJson });
    const envelope = fc.record(
      {
        type: field(fc.constantFrom("310001", "999999")),
        request,
        channel: field(fc.constantFrom("12", "17", "41")),
        tranChnl: field(fc.constantFrom("12", "17", "41")),
        backUrl: field(fc.constantFrom("", "https://mobile.psbc.com/back", "javascript:alert(1)")),
        instType: field(fc.constantFrom("01", "02")),
        provinceInstNo: field(fc.constantFrom("100000", "1")),
      },
      { requiredKeys: [] },
    );
    const payload = fc.oneof(
      { weight: 8, arbitrary: envelope.map((body) => JSON.stringify(body)) },
      { weight: 1, arbitrary: anyJson.map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
    );

    it.each(ROUTES)("answers %s with the parameter error or a contract business answer, never a system error", async (path) => {
      await fc.assert(
        fc.asyncProperty(payload, async (body) => {
          // post() checks the answer against the contract; a 500 would mean a bad input reached something that broke.
          const { status, body: answer } = await post(path, body);
          expect(status, JSON.stringify(answer)).not.toBe(500);
          if (answer.code === 2) expect(answerOf({ status, body: answer })).toEqual(PARAM_ERROR);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
