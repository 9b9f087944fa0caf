// POST /whale/channel/makeCode through the gateway, on the real CodeService over an in-process Connect transport
// and its real stores (PostgreSQL when DATABASE_URL is set, else PGlite): signed requests and answers, the seed's
// answer, every refusal in the contract's table, and every answer validated against the served contract.
import { generateKeyPairSync } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { NotifyService, TaskType, type NewTask } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import fc from "fast-check";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { buildTestGateway, logLines } from "../../test/support/gateway.js";
import { answerSigned, assertChannelContract, seedMakeCodeBody, seedOffer, signedHeaders, type WhaleOffer } from "../../test/support/whale-codes.js";
import { systemClock } from "../../services/common/clock.js";
import { KeyRing } from "../../services/common/key-ring.js";
import { createLogger } from "../../services/common/logger.js";
import { migrate } from "../../services/common/migrate.js";
import { AuditStore } from "../../services/voucher/catalogue/audit-store.js";
import { CatalogueStore } from "../../services/voucher/catalogue/catalogue-store.js";
import { isWellFormedCode } from "../../services/voucher/channels/internal/code-generator.js";
import { MAKE_CODE_SCENE } from "../../services/voucher/rules/quota-gate.js";
import type { SendChannel } from "../../services/voucher/channels/send-channel.js";
import { startCodes } from "../../services/voucher/codes/codes.js";
import { CodeService } from "../../proto/gen/rights/voucher/v1/codes_pb.js";
import { validateRule } from "../../services/voucher/rules/rule-definition.js";
import { RuleStore } from "../../services/voucher/rules/rule-store.js";
import { VOUCHER_SCHEMA } from "../../services/voucher/voucher-store.js";

const logger = createLogger("whale-channel-test", "silent");
const keys = new KeyRing(Buffer.alloc(32, 9));
const PATH = "/whale/channel/makeCode";

let t: TestDatabase;
let app: FastifyInstance;
let offer: WhaleOffer;
const smsTasks: NewTask[] = [];
/** While true, notify takes no task (CreateTasks fails); it still answers ListTasks. */
let notifyRefusing = false;
let codes: ReturnType<typeof startCodes>;
let voucherTransport: Transport;

beforeAll(async () => {
  t = await testDatabase();
  await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../../services/voucher/migrations", import.meta.url)), logger });
  const unused: SendChannel = { makeCodes: () => Promise.reject(new Error("not this channel")), voidCode: async () => undefined, queryCode: () => Promise.reject(new Error("no")) };
  // The notify service, as far as make-code sees it: the SMS tasks it is handed.
  const notify = createClient(
    NotifyService,
    createRouterTransport((router) =>
      router.service(NotifyService, {
        createTasks(req) {
          if (notifyRefusing) throw new ConnectError("notify away", Code.Unavailable);
          smsTasks.push(...req.tasks);
          return { outcomes: req.tasks.map(() => ({ created: true })) };
        },
        // None delivered yet.
        listTasks: () => ({ tasks: [] }),
      }),
    ),
  );
  codes = startCodes({
    db: t.db, catalogue: new CatalogueStore(t.db, keys), audit: new AuditStore(t.db), blueBrothers: unused, esb: { appId: "", appSecret: "", timeoutMs: 1000 }, clock: systemClock, logger, leaseMs: 5_000,
    notify: { client: notify, callOptions: () => ({}) },
  });
  voucherTransport = createRouterTransport((router) => codes.routes(router));
  app = await buildTestGateway({ whaleChannel: { voucherTransport } });
  offer = await seedOffer(t.db, keys);
});

afterAll(async () => {
  await app?.close();
  await t?.drop();
});

/** Posts `body` (an object is serialised once: the signature covers those bytes) with the given headers. */
async function post(body: string, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  const res = await app.inject({ method: "POST", url: PATH, payload: body, headers });
  expect(res.statusCode).toBe(200);
  assertChannelContract(res.statusCode, res.json<unknown>());
  return res;
}

async function makeCode(o: WhaleOffer, body: object): Promise<LightMyRequestResponse> {
  const raw = JSON.stringify(body);
  return post(raw, signedHeaders(o, raw));
}

/** A make-code rule of the sale channel: at most `total` codes in all; its rule id. */
async function totalQuota(saleChannelId: string, total: number): Promise<string> {
  const checked = validateRule({
    ruleScenceKey: "saleChannel", ruleSceneItemKey: saleChannelId, ruleScene: MAKE_CODE_SCENE, ruleName: "total", ruleKey: "ScenceLimit",
    ruleValue: { limitWay: "Q", limitType: "W", limitItems: [{ limitKey: saleChannelId, limitMaxDay: 0, limitMaxWeek: 0, limitMaxMonth: 0, limitMaxYear: 0, limitMaxTotal: total, startTime: "20260101000000", endTime: "20361231235959" }] },
    startTime: "20260101000000", endTime: "20361231235959", messageTpl: "本渠道制码数量已达上限",
  });
  if (!checked.ok) throw new Error(checked.message);
  return (await new RuleStore(t.db).create(checked.value, "test", new Date())).ruleId;
}

const answer = (res: LightMyRequestResponse) => res.json<{ returnCode: string; returnMsg: string; data?: Record<string, unknown> }>();

describe("POST /whale/channel/makeCode", () => {
  it("makes the seed's example: the seed's answer, signed for the channel", async () => {
    const body = seedMakeCodeBody(offer.templateId, { codeNum: 2 });
    const res = await makeCode(offer, body);
    expect(answerSigned(offer, res.body, res.headers["x-signature"] as string)).toBe(true);
    const { data, ...envelope } = answer(res);
    expect(envelope).toEqual({ returnCode: "00", returnMsg: "SUCCESS" });
    expect(data).toMatchObject({
      saleChannelOrderId: body.saleChannelOrderId, tradeNo: expect.stringMatching(/^[0-9a-f]{32}$/) as string, isNotify: "1", codeNum: 2,
      createTime: expect.stringMatching(/^\d{14}$/) as string, createDate: expect.stringMatching(/^\d{8}$/) as string,
    });
    const [item] = data?.items as Array<Record<string, unknown>>;
    expect(item).toMatchObject({
      itemResultCode: "00", itemResultMsg: "SUCCESS", saleChannelItemId: "20181024154201", ticketId: Number(offer.templateId),
      ticketName: "COSTA30元代金券", activityId: offer.activityId, activityName: "中信银行星巴克代金券活动",
      validStart: expect.stringMatching(/000000$/) as string, validEnd: expect.stringMatching(/000000$/) as string,
    });
    const details = item?.codeDetail as Array<Record<string, unknown>>;
    expect(details).toHaveLength(2);
    for (const detail of details) {
      expect(detail).toMatchObject({ useTimes: 10, status: "00", statusDesc: "未使用", codeURL: "" });
      expect(isWellFormedCode(detail.code as string)).toBe(true);
    }
    // The SMS notice: one task, to the order's number only, its codes in the text and in no log line.
    const tasks = smsTasks.filter((task) => task.payload.case === "sms" && task.payload.value.noticeId === data?.tradeNo);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.type).toBe(TaskType.SMS);
    expect(tasks[0]?.payload.value).toMatchObject({ saleChannelOrderId: body.saleChannelOrderId, mobile: "13524161800" });
    const text = tasks[0]?.payload.case === "sms" ? tasks[0].payload.value.message : "";
    for (const detail of details) {
      expect(text).toContain(detail.code);
      expect(logLines.join("\n")).not.toContain(detail.code as string);
    }
    // A repeat hands over nothing more.
    await makeCode(offer, body);
    expect(smsTasks.filter((task) => task.payload.case === "sms" && task.payload.value.noticeId === data?.tradeNo)).toHaveLength(1);
  });

  it("a notice sent again (makeNotifyRetry) that notify did not take is handed over by the notice job, as a first notice is", async () => {
    const body = seedMakeCodeBody(offer.templateId);
    const tradeNo = answer(await makeCode(offer, body)).data?.tradeNo;
    notifyRefusing = true;
    try {
      const { notice } = await createClient(CodeService, voucherTransport).retryMakeNotice({ saleChannelOrderId: body.saleChannelOrderId, saleChannelId: offer.saleChannelId });
      expect(notice?.notifyId).toBe(`${tradeNo}.1`);
    } finally {
      notifyRefusing = false;
    }
    // The job's turn, once an order's own hand-over has had its minute.
    await t.db.query(`UPDATE vouchers.code_order SET created_at = created_at - interval '2 minutes' WHERE trade_no = $1`, [tradeNo]);
    await codes.jobs.find((job) => job.name === "make-code notices")?.run();
    expect(smsTasks.filter((task) => task.payload.case === "sms" && task.payload.value.noticeId === `${tradeNo}.1`)).toHaveLength(1);
  });

  it("answers a replay, or a repeat with the same body, with the codes made the first time; another body under the id is 03", async () => {
    const body = seedMakeCodeBody(offer.templateId);
    const raw = JSON.stringify(body);
    const headers = signedHeaders(offer, raw);
    const first = answer(await post(raw, headers));
    expect(answer(await post(raw, headers))).toEqual(first);
    // The same fields in another order and spacing: the same request.
    const reordered = JSON.stringify({ item: body.item, requestId: body.requestId, notifyType: body.notifyType, saleChannelOrderId: body.saleChannelOrderId }, null, 1);
    expect(answer(await post(reordered, signedHeaders(offer, reordered)))).toEqual(first);
    const other = await makeCode(offer, { ...body, item: { ...body.item, validDays: 11 } });
    expect(answer(other)).toEqual({ returnCode: "03", returnMsg: `saleChannelOrderId ${body.saleChannelOrderId} was used for another request` });
    expect(answerSigned(offer, other.body, other.headers["x-signature"] as string)).toBe(true);
  });

  it("another channel's order id is that channel's own order: never the first channel's codes", async () => {
    const second = await seedOffer(t.db, keys);
    const body = seedMakeCodeBody(offer.templateId, { saleChannelOrderId: "SHARED-ORDER-1" });
    const mine = answer(await makeCode(offer, body));
    // The second channel orders the same id of a template it is not offered: refused, nothing of the first's shown.
    expect(answer(await makeCode(second, body)).returnCode).toBe("04");
    const theirs = answer(await makeCode(second, seedMakeCodeBody(second.templateId, { saleChannelOrderId: "SHARED-ORDER-1" })));
    expect(theirs.returnCode).toBe("00");
    expect(theirs.data?.tradeNo).not.toBe(mine.data?.tradeNo);
  });

  it("refuses bad signatures with 02, unsigned, before looking at the body", async () => {
    const raw = JSON.stringify(seedMakeCodeBody(offer.templateId));
    const good = signedHeaders(offer, raw);
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const cases: Array<[Record<string, string>, string]> = [
      [{ ...good, "x-signature": signedHeaders({ ...offer, channelPrivateKey: stranger }, raw)["x-signature"] ?? "" }, "signature invalid: does not verify with the sale channel's key"],
      [{ ...good, "x-signature": signedHeaders(offer, `${raw} `)["x-signature"] ?? "" }, "signature invalid: does not verify with the sale channel's key"],
      [{ ...good, "x-sale-channel-id": "99999999" }, "signature invalid: does not verify with the sale channel's key"],
      [{ ...good, "x-sale-channel-id": "abc" }, "authentication failed: x-sale-channel-id must be a sale channel id (digits)"],
      [{ ...good, "x-signature": "not base64!" }, "authentication failed: x-signature must be Base64"],
      [Object.fromEntries(Object.entries(good).filter(([name]) => name !== "x-signature")), "authentication failed: x-signature is required (exactly once)"],
      [Object.fromEntries(Object.entries(good).filter(([name]) => name !== "x-sale-channel-id")), "authentication failed: x-sale-channel-id is required (exactly once)"],
    ];
    for (const [headers, returnMsg] of cases) {
      const res = await post(raw, headers);
      expect(answer(res), returnMsg).toEqual({ returnCode: "02", returnMsg });
      expect(res.headers["x-signature"]).toBeUndefined();
    }
    // A disabled channel is refused the same way as an unknown one.
    const disabled = await seedOffer(t.db, keys, { channelActive: false });
    const signedByDisabled = JSON.stringify(seedMakeCodeBody(disabled.templateId));
    expect(answer(await post(signedByDisabled, signedHeaders(disabled, signedByDisabled))).returnCode).toBe("02");
  });

  it("names the field and the rule of each bad value (01), signed", async () => {
    const base = seedMakeCodeBody(offer.templateId);
    const cases: Array<[object, string]> = [
      [{ ...base, saleChannelOrderId: "" }, "saleChannelOrderId"],
      [{ ...base, saleChannelOrderId: "x".repeat(64) }, "saleChannelOrderId"],
      [{ ...base, saleChannelOrderId: "a\u0000b" }, "saleChannelOrderId"],
      [{ ...base, saleChannelOrderId: "\ud800" }, "saleChannelOrderId"],
      [{ ...base, requestId: 7 }, "requestId"],
      [{ ...base, notifyType: { mobilePhone: "2352416180" } }, "notifyType.mobilePhone"],
      [{ ...base, item: { ...base.item, validDays: 0 } }, "item.validDays"],
      [{ ...base, item: { ...base.item, validDays: 3661 } }, "item.validDays"],
      [{ ...base, item: { ...base.item, commissionDate: "1000" } }, "item.commissionDate"],
      [{ ...base, item: { ...base.item, ticketId: "0" } }, "item.ticketId"],
      [{ ...base, item: { ...base.item, codeNum: 101 } }, "item.codeNum"],
      [{ ...base, item: { ...base.item, makeFundsChannel: { channelBenefit: -1, merchantBenefit: 0, userRealAmount: 0 } } }, "item.makeFundsChannel.channelBenefit"],
      [{ ...base, extra: 1 }, "extra"],
      [{ saleChannelOrderId: "SO1", requestId: "R1" }, "item"],
    ];
    for (const [body, field] of cases) {
      const res = await makeCode(offer, body);
      const { returnCode, returnMsg } = answer(res);
      expect({ returnCode, field: returnMsg.split(":")[0] }, JSON.stringify(body).slice(0, 80)).toEqual({ returnCode: "01", field });
      expect(answerSigned(offer, res.body, res.headers["x-signature"] as string)).toBe(true);
    }
    const notJson = "{not json";
    expect(answer(await post(notJson, signedHeaders(offer, notJson)))).toEqual({ returnCode: "01", returnMsg: "body: is not valid JSON" });
    // The longest allowed values pass.
    expect(answer(await makeCode(offer, { ...base, saleChannelOrderId: "9".repeat(63), item: { ...base.item, validDays: 3660, codeNum: 100 } })).returnCode).toBe("00");
  });

  it("answers 04 for an inactive or unknown template, 05 when a quota rule refuses (with its message)", async () => {
    const inactive = await seedOffer(t.db, keys, { templateActive: false });
    expect(answer(await makeCode(inactive, seedMakeCodeBody(inactive.templateId))).returnCode).toBe("04");
    expect(answer(await makeCode(offer, seedMakeCodeBody("9999999999999"))).returnCode).toBe("04");
    const limited = await seedOffer(t.db, keys);
    await totalQuota(limited.saleChannelId, 1);
    expect(answer(await makeCode(limited, seedMakeCodeBody(limited.templateId))).returnCode).toBe("00");
    expect(answer(await makeCode(limited, seedMakeCodeBody(limited.templateId)))).toEqual({ returnCode: "05", returnMsg: "本渠道制码数量已达上限" });
  });

  it("a repeat of an order refused for its quota is 04 once its template, send channel or activity is disabled, making nothing", async () => {
    for (const table of ["template", "send_channel", "activity"] as const) {
      const limited = await seedOffer(t.db, keys);
      const ruleId = await totalQuota(limited.saleChannelId, 1);
      expect(answer(await makeCode(limited, seedMakeCodeBody(limited.templateId))).returnCode).toBe("00");
      const body = seedMakeCodeBody(limited.templateId);
      expect(answer(await makeCode(limited, body)).returnCode).toBe("05");
      const id = { template: limited.templateId, send_channel: limited.sendChannelId, activity: limited.activityId }[table];
      await t.db.query(`UPDATE vouchers.${table} SET is_active = false WHERE ${table}_id = $1`, [id]);
      await new RuleStore(t.db).setActive(ruleId, false, "test", new Date());
      expect(answer(await makeCode(limited, body)).returnCode).toBe("04");
      const { rows } = await t.db.query(`SELECT 1 FROM vouchers.made_code JOIN vouchers.code_order USING (trade_no) WHERE sale_channel_id = $1`, [limited.saleChannelId]);
      expect(rows).toHaveLength(1);
    }
  });

  it("answers every generated body with an envelope of the contract, never a 00 for a body that is not one", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.record({ saleChannelOrderId: fc.string(), requestId: fc.string(), item: fc.object() })), async (body) => {
        const res = await makeCode(offer, body as object);
        expect(["01", "04"]).toContain(answer(res).returnCode);
      }),
      { numRuns: 60 },
    );
  });
});
