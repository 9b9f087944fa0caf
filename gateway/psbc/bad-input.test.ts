import { describe, expect, it } from "vitest";
import { assertContractErrorEnvelope } from "../../test/support/psbc-contract.js";
import {
  CIPHERTEXT,
  expectAnswer,
  fakeOrderService,
  logLines,
  logs,
  ROUTES,
  useTestGateway,
  validBody,
  type Envelope,
} from "../../test/support/gateway.js";
import { PATHS } from "../../test/support/platform.js";

const [APPOINTMENT, DETAIL] = [PATHS.appointment, PATHS.detail];
const gateway = useTestGateway();

describe("PSBC routes: bad input is a parameter error (HTTP 400, code 2) and never reaches the service", () => {
  const required = ["type", "request", "channel", "tranChnl", "instType", "provinceInstNo"] as const;
  const invalid: Array<[string, Record<string, unknown>]> = [
    ...required.map((field): [string, Record<string, unknown>] => {
      const { [field]: _omitted, ...rest } = validBody;
      return [`missing ${field}`, rest];
    }),
    ["channel outside its enum", { ...validBody, channel: "13" }],
    ["tranChnl outside its enum", { ...validBody, tranChnl: "99" }],
    ["instType outside its enum", { ...validBody, instType: "03" }],
    ["type over 6 characters", { ...validBody, type: "3100011" }],
    ["backUrl over 256 characters", { ...validBody, backUrl: `https://x/${"a".repeat(250)}` }],
    ["provinceInstNo over 20 characters", { ...validBody, provinceInstNo: "1".repeat(21) }],
    ["request over 4096 characters", { ...validBody, request: "A".repeat(4097) }],
    ["empty type", { ...validBody, type: "" }],
    ["empty request", { ...validBody, request: "" }],
    ["empty provinceInstNo", { ...validBody, provinceInstNo: "" }],
    ["a numeric type", { ...validBody, type: 310001 }],
    ["a numeric channel", { ...validBody, channel: 12 }],
    ["a null request", { ...validBody, request: null }],
    ["an object provinceInstNo", { ...validBody, provinceInstNo: { no: "1" } }],
    ["a boolean backUrl", { ...validBody, backUrl: true }],
  ];

  for (const url of ROUTES) {
    it.each(invalid)(`${url}: %s`, async (_name, body) => {
      expectAnswer(url, await gateway.post(url, body), 400, 2, "参数错误");
      expect(fakeOrderService.calls).toEqual([]);
    });
  }

  it.each([
    ["bad JSON", { "content-type": "application/json" }, `{"type":"310001","request":"${CIPHERTEXT}"`],
    ["a JSON array", { "content-type": "application/json" }, JSON.stringify([validBody])],
    ["a JSON string", { "content-type": "application/json" }, JSON.stringify("x")],
    ["an empty JSON body", { "content-type": "application/json" }, ""],
    ["no body at all", {}, undefined],
    ["text/plain", { "content-type": "text/plain" }, JSON.stringify(validBody)],
    ["a form", { "content-type": "application/x-www-form-urlencoded" }, "type=310001"],
    ["no content type", {}, JSON.stringify(validBody)],
    ["a body over 16 KiB", { "content-type": "application/json" }, JSON.stringify({ ...validBody, pad: "x".repeat(17 * 1024) })],
    ["a prototype-poisoning body", { "content-type": "application/json" }, `{"__proto__":{"x":1},"type":"310001"}`],
  ])("%s", async (_name, headers, payload) => {
    const res = await gateway.app.inject({ method: "POST", url: APPOINTMENT, headers, ...(payload === undefined ? {} : { payload }) });
    expectAnswer(APPOINTMENT, res, 400, 2, "参数错误");
    expect(fakeOrderService.calls).toEqual([]);
  });

  it("logs a rejection at warn with its traceId, without the body or the ciphertext", async () => {
    const bad = await gateway.app.inject({
      method: "POST",
      url: APPOINTMENT,
      headers: { "content-type": "application/json" },
      payload: `{"request":"${CIPHERTEXT}"`,
    });
    const invalidEnum = await gateway.post(APPOINTMENT, { ...validBody, channel: "13" });
    const warnings = logs().filter((line) => line.level === 40);
    expect(warnings.map((w) => w.traceId)).toEqual([bad.json<Envelope>().traceId, invalidEnum.json<Envelope>().traceId]);
    expect(warnings[1]).toMatchObject({ route: APPOINTMENT, httpStatus: 400, code: 2, validation: [{ instancePath: "/channel", keyword: "enum" }] });
    expect(logLines.join("")).not.toContain(CIPHERTEXT);
  });
});

describe("unrouted requests under the contract's prefix", () => {
  it.each([
    ["an unknown path", "POST", "/api/v1/service/unknown"],
    ["the wrong method on a reconciliation route", "GET", "/api/v1/reconciliation/files"],
    ["the wrong method", "GET", APPOINTMENT],
    ["the wrong method", "PUT", DETAIL],
    ["the prefix itself", "GET", "/api/v1"],
  ] as const)("%s (%s %s) is HTTP 404, code 2", async (_name, method, url) => {
    const res = await gateway.app.inject({ method, url, payload: method === "GET" ? undefined : validBody });
    const body = res.json<Envelope>();
    assertContractErrorEnvelope(res.statusCode, body);
    expect({ httpStatus: res.statusCode, code: body.code, msg: body.msg }).toEqual({ httpStatus: 404, code: 2, msg: "参数错误" });
    expect(fakeOrderService.calls).toEqual([]);
  });

  it("a malformed URL is a parameter error", async () => {
    const res = await gateway.app.inject({ method: "POST", url: "/api/v1/service/%c0", payload: validBody });
    expect(res.statusCode).toBe(400);
    expect(res.json<Envelope>()).toMatchObject({ code: 2, msg: "参数错误" });
    assertContractErrorEnvelope(res.statusCode, res.json());
  });
});
