import { describe, expect, it } from "vitest";
import { assertContractErrorEnvelope, assertContractResponse, contractResponseExamples } from "./support/psbc-contract.js";

const detailOk = {
  code: 0,
  msg: "成功",
  traceId: "0123456789abcdef0123456789abcdef",
  data: { url: "https://lsb.example.com/redeem/abc123", backUrl: "" },
};

describe("assertContractResponse", () => {
  const examples = contractResponseExamples();

  it("finds the contract's examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(25);
    expect(new Set(examples.map((e) => e.path)).size).toBe(7);
  });

  it.each(examples.map((e) => [`${e.path} ${e.httpStatus} ${e.name}`, e] as const))("accepts example %s", (_name, e) => {
    expect(() => assertContractResponse(e.path, e.httpStatus, e.value)).not.toThrow();
  });

  it("accepts a success of ours", () => {
    expect(() => assertContractResponse("/api/v1/service/detail", 200, detailOk)).not.toThrow();
  });

  it("rejects a status the operation does not declare", () => {
    expect(() => assertContractResponse("/api/v1/service/detail", 404, { code: 2, msg: "参数错误", traceId: "t" })).toThrow(
      /status not declared.*200, 400, 500/,
    );
  });

  it("rejects a path outside the contract", () => {
    expect(() => assertContractResponse("/api/v1/nope", 200, detailOk)).toThrow(/no such path/);
  });

  it.each([
    ["a missing required data field", { ...detailOk, data: { url: "u" } }, /backUrl/],
    ["a string code", { ...detailOk, code: "0" }, /code/],
    ["a code outside the enum", { ...detailOk, code: 9 }, /allowed values/],
    ["a missing traceId", { code: 0, msg: "成功", data: detailOk.data }, /traceId/],
    ["a traceId over 32 characters", { ...detailOk, traceId: "x".repeat(33) }, /traceId/],
    ["a url over 125 characters", { ...detailOk, data: { url: "u".repeat(126), backUrl: "" } }, /url/],
    ["a non-object body", "成功", /must be object/],
  ])("rejects %s", (_name, body, message) => {
    expect(() => assertContractResponse("/api/v1/service/detail", 200, body)).toThrow(message);
  });

  it("rejects a code that does not go with the HTTP status", () => {
    expect(() => assertContractResponse("/api/v1/service/detail", 200, { ...detailOk, code: 4 })).toThrow(
      /code 4 does not go with HTTP 200/,
    );
    expect(() =>
      assertContractResponse("/api/v1/service/detail", 500, { code: 2, msg: "参数错误", traceId: "t" }),
    ).toThrow(/code 2 does not go with HTTP 500/);
    expect(() => assertContractResponse("/api/v1/service/detail", 400, { code: 0, msg: "成功", traceId: "t" })).toThrow(
      /code 0 does not go with HTTP 400/,
    );
  });

  it("rejects a success message on an error and an error message on a success", () => {
    expect(() => assertContractResponse("/api/v1/service/detail", 400, { code: 2, msg: "成功", traceId: "t" })).toThrow(
      /msg "成功" does not go with code 2/,
    );
    expect(() => assertContractResponse("/api/v1/service/detail", 200, { ...detailOk, msg: "ok" })).toThrow(/msg "ok"/);
  });

  it("expects the file itself from the download's 200", () => {
    expect(() => assertContractResponse("/api/v1/reconciliation/download", 200, "\uFEFFa,b\n")).not.toThrow();
    expect(() => assertContractResponse("/api/v1/reconciliation/download", 200, detailOk)).toThrow(/text\/csv/);
  });
});

describe("assertContractErrorEnvelope", () => {
  it("accepts an error envelope and rejects a success or a malformed one", () => {
    expect(() => assertContractErrorEnvelope(404, { code: 2, msg: "参数错误", traceId: "t" })).not.toThrow();
    expect(() => assertContractErrorEnvelope(404, detailOk)).toThrow(/non-zero code/);
    expect(() => assertContractErrorEnvelope(404, { code: 2, msg: "参数错误" })).toThrow(/traceId/);
  });
});
