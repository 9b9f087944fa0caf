import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { OrderService, type PutServiceTypeRequestSchema } from "../proto/gen/rights/order/v1/order_pb.js";
import { SANDBOX_PSBC_OFFER } from "../services/sandbox/credentials.js";
import { runOps } from "../services/platform/ops/cli.js";
import { erpOk, erpTime, unique } from "./support/whale-erp.js";
import { freshCode, modes, PATHS, SANDBOX_AES, startTestPlatform, type TestPlatform } from "./support/platform.js";

const OTHER_TYPE = { type: "310002", aes: { key: "type-310002-key!", iv: "type-310002-iv00" } };
const STRICT_TYPE = { type: "310003", aes: { key: "type-310003-key!", iv: "type-310003-iv00" } };
/** Registered by the operator's command (`ops service-type put`), against a template the back office set up. */
const OPS_TYPE = { type: "310004", aes: { key: "type-310004-key!", iv: "type-310004-iv00" } };

const ORDER_NOT_FOUND = { status: 400, code: 1, msg: "订单不存在" };
const NOT_SUPPORTED = { status: 400, code: 4, msg: "暂不支持此服务" };

function serviceType(type: string, aes: { key: string; iv: string }, strictMac = false): MessageInitShape<typeof PutServiceTypeRequestSchema> {
  return {
    type,
    name: `rights service ${type}`,
    aesKey: aes.key,
    aesIv: aes.iv,
    providerCode: "A101",
    // One WHALE template may serve several service types: the sandbox's PSBC offer's.
    voucherTemplateId: SANDBOX_PSBC_OFFER.templateId,
    sendChannel: "BLUE_BROTHERS",
    validityDays: 365,
    strictMac,
  };
}

async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to be refused");
}

describe.each(modes)("an order belongs to its service type, and admin RPCs need the admin token (%s)", (mode) => {
  let platform: TestPlatform;
  let orders: ReturnType<typeof createClient<typeof OrderService>>;
  const admin = () => ({ headers: adminAuthorization(platform.adminToken) });

  beforeAll(async () => {
    platform = await startTestPlatform(mode);
    orders = createClient(OrderService, rpcTransport(platform.serviceUrl("order")));
    await orders.putServiceType(serviceType(OTHER_TYPE.type, OTHER_TYPE.aes), admin());
    await orders.putServiceType(serviceType(STRICT_TYPE.type, STRICT_TYPE.aes, true), admin());
  });
  afterAll(async () => {
    await platform?.close();
  });

  /** Everything a call could have changed: the order row and every upstream call. */
  async function snapshot(code: string) {
    return {
      row: await platform.orderRow(code),
      psbc: { ...platform.psbcSandbox.calls },
      blueBrothers: { ...platform.blueBrothersSandbox.calls },
      atPsbc: await platform.psbcSandbox.statusOf(code),
    };
  }

  async function answer(path: string, input: Parameters<TestPlatform["call"]>[1]) {
    const { status, body } = await platform.call(path, input);
    return { status, code: body.code, msg: body.msg };
  }

  it("answers detail, cancel, appointment and expired points of a 310001 code under 310002 as for a code with no order there, and changes nothing", async () => {
    const code = freshCode();
    const booked = await platform.call(PATHS.appointment, { code });
    expect(booked.body.code).toBe(0);
    const before = await snapshot(code);
    const expected: Record<string, object> = {
      [PATHS.detail]: ORDER_NOT_FOUND,
      [PATHS.cancel]: ORDER_NOT_FOUND,
      [PATHS.appointment]: NOT_SUPPORTED,
      [PATHS.expiredPoints]: NOT_SUPPORTED,
    };
    // Any order of calls, with the booking's mac or any other: the same answers, nothing touched.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ path: fc.constantFrom(...Object.values(PATHS)), mac: fc.constantFrom("customer-0001", "another-customer") }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (calls) => {
          for (const { path, mac } of calls) {
            expect(await answer(path, { code, mac, type: OTHER_TYPE.type, aes: OTHER_TYPE.aes })).toEqual(expected[path]);
          }
          expect(await snapshot(code)).toEqual(before);
        },
      ),
      { numRuns: 8 },
    );
    // Under its own type the order is as it was.
    const detail = await platform.call(PATHS.detail, { code });
    expect(detail.body).toMatchObject({ code: 0, data: { url: booked.body.data?.url } });
  });

  it("books a fresh code under 310002 with its own key, and refuses that code under 310001", async () => {
    const code = freshCode();
    const other = { code, type: OTHER_TYPE.type, aes: OTHER_TYPE.aes };
    expect((await platform.call(PATHS.appointment, other)).body.code).toBe(0);
    expect(await platform.orderRow(code)).toMatchObject({ type: OTHER_TYPE.type, status: 200 });
    expect(await answer(PATHS.detail, { code })).toEqual(ORDER_NOT_FOUND);
    expect(await answer(PATHS.cancel, { code })).toEqual(ORDER_NOT_FOUND);
    expect(await answer(PATHS.appointment, { code })).toEqual(NOT_SUPPORTED);
    expect((await platform.call(PATHS.cancel, other)).body.code).toBe(0);
  });

  it("books a type the operator set up as README's \"PSBC offer in the cluster\" shows: its template through the back office, the type by `ops service-type put`", async () => {
    const ok = (action: string, body: unknown) => erpOk(platform.gatewayUrl, action, body);
    const saleChannelId = String((await platform.db.query<{ id: string }>(`SELECT sale_channel_id::text AS id FROM vouchers.sale_channel WHERE name = 'PSBC'`)).rows[0]?.id);
    const send = await ok("sendChanneInsert", { sendChannelName: unique("Blue Brothers "), sendChannelConfig: { sendChannelType: "BLUE_BROTHERS" } });
    const productId = Date.now() * 10 + Math.floor(Math.random() * 10);
    const template = await ok("templateInsert", {
      templateName: "体检权益 310004", sendChannelId: send.sendChannelId, brandId: 1, productId, ticketType: 3, faceValue: "000000000000", sendType: 1,
      createTime: erpTime(), updateTime: erpTime(),
    });
    const activity = await ok("activityInsert", {
      activityName: "PSBC权益服务", ebuyActivityId: unique("PSBC-"), saleChannelId, validStart: erpTime(-1), validEnd: erpTime(3650),
      createTime: erpTime(), updateTime: erpTime(),
    });
    await ok("activityTemplateBind", { activityId: activity.activityId, templateId: template.templateId });
    const { type, aes } = OPS_TYPE;
    let stderr = "";
    const exit = await runOps(
      ["service-type", "put", type, "--name", "体检权益", "--provider-code", "A101", "--template", String(template.templateId), "--validity-days", "30"],
      {
        env: { ORDER_SERVICE_URL: platform.serviceUrl("order"), ADMIN_TOKEN: platform.adminToken, SERVICE_TYPE_AES_KEY: aes.key, SERVICE_TYPE_AES_IV: aes.iv },
        stdout: () => undefined,
        stderr: (text) => void (stderr += text),
      },
    );
    expect({ exit, stderr }).toEqual({ exit: 0, stderr: "" });

    const code = freshCode();
    expect((await platform.call(PATHS.appointment, { code, type, aes })).body.code).toBe(0);
    const row = await platform.orderRow(code);
    const { rows } = await platform.db.query(
      `SELECT template_id::text, sale_channel_id FROM vouchers.code_order WHERE sale_channel_order_id = $1`,
      [row?.order_no],
    );
    expect(rows).toEqual([{ template_id: String(template.templateId), sale_channel_id: saleChannelId }]);
    expect(await platform.blueBrothersSandbox.voucherByNo(String(row?.voucher_no))).toMatchObject({ templateId: String(productId), rightsCode: code });
  });

  it("a strict type refuses a call with another mac than the booking's; a lax type (the default) allows it", async () => {
    const code = freshCode();
    const strict = { code, type: STRICT_TYPE.type, aes: STRICT_TYPE.aes, mac: "customer-A" };
    const booked = await platform.call(PATHS.appointment, strict);
    expect(booked.body.code).toBe(0);
    const before = await snapshot(code);
    const stranger = { ...strict, mac: "customer-B" };
    expect(await answer(PATHS.detail, stranger)).toEqual(ORDER_NOT_FOUND);
    expect(await answer(PATHS.cancel, stranger)).toEqual(ORDER_NOT_FOUND);
    expect(await answer(PATHS.appointment, stranger)).toEqual(NOT_SUPPORTED);
    expect(await answer(PATHS.expiredPoints, stranger)).toEqual(NOT_SUPPORTED);
    expect(await snapshot(code)).toEqual(before);
    expect((await platform.call(PATHS.detail, strict)).body).toMatchObject({ code: 0, data: { url: booked.body.data?.url } });

    const lax = freshCode();
    expect((await platform.call(PATHS.appointment, { code: lax, mac: "customer-A" })).body.code).toBe(0);
    expect((await platform.call(PATHS.detail, { code: lax, mac: "customer-B" })).body.code).toBe(0);
  });

  it("refuses PutServiceType without the admin token or with a wrong one (UNAUTHENTICATED), and stores nothing", async () => {
    const intruder = serviceType("310099", { key: "intruder-key-000", iv: "intruder-iv-0000" });
    const missing = await rejection(orders.putServiceType(intruder));
    const wrong = await rejection(orders.putServiceType(intruder, { headers: adminAuthorization(`${platform.adminToken}x`) }));
    const notBearer = await rejection(orders.putServiceType(intruder, { headers: { authorization: platform.adminToken } }));
    expect([missing.code, wrong.code, notBearer.code]).toEqual([Code.Unauthenticated, Code.Unauthenticated, Code.Unauthenticated]);
    const { rows } = await platform.db.query("SELECT type FROM orders.service_type WHERE type = '310099'");
    expect(rows).toEqual([]);
    expect(await answer(PATHS.detail, { code: freshCode(), type: "310099", aes: { key: "intruder-key-000", iv: "intruder-iv-0000" } })).toEqual(
      NOT_SUPPORTED,
    );
  });

  it("refuses a service type whose voucher template is no WHALE template id (a Blue Brothers template of before), storing nothing", async () => {
    const before = { ...serviceType("310098", { key: "type-310098-key!", iv: "type-310098-iv00" }), voucherTemplateId: "BB-TPL-310098" };
    expect((await rejection(orders.putServiceType(before, admin()))).code).toBe(Code.InvalidArgument);
    expect((await platform.db.query("SELECT type FROM orders.service_type WHERE type = '310098'")).rows).toEqual([]);
  });

  it("keeps no service type's key or IV readable in the table", async () => {
    const { rows } = await platform.db.query("SELECT * FROM orders.service_type");
    expect(rows.map((row) => row.type).sort()).toEqual(["310001", "310002", "310003", "310004"]);
    const stored = JSON.stringify(rows, (_key, value: unknown) =>
      value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : value,
    );
    for (const secret of [SANDBOX_AES, OTHER_TYPE.aes, STRICT_TYPE.aes, OPS_TYPE.aes]) {
      expect(stored).not.toContain(secret.key);
      expect(stored).not.toContain(secret.iv);
    }
    expect(rows.every((row) => row.aes_key === null && row.aes_iv === null && row.secret_kek_id)).toBe(true);
  });
});
