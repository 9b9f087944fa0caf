import { readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";

/** The PSBC contract, shared by every work tree (repo root `../shared/contracts/`). */
export const PSBC_CONTRACT_URL = new URL("../../../shared/contracts/psbc-openapi.yaml", import.meta.url);

const CONTRACT_ID = "psbc-openapi.yaml";
const TRACE_ID_MAX = 32;
const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

interface MediaType {
  schema?: unknown;
  examples?: Record<string, { value?: unknown }>;
}
interface OperationDoc {
  operationId?: string;
  description?: string;
  responses?: Record<string, { content?: Record<string, MediaType> }>;
}
interface ContractDoc {
  paths: Record<string, Record<string, OperationDoc>>;
}

/** One response example of the contract. */
export interface ContractExample {
  path: string;
  httpStatus: number;
  mediaType: string;
  name: string;
  value: unknown;
}

interface LoadedContract {
  doc: ContractDoc;
  ajv: Ajv;
  validators: Map<string, ValidateFunction>;
  examples: ContractExample[];
  /** Per HTTP status, the response codes the contract's examples pair with it. */
  codesByStatus: Map<number, Set<number>>;
  /** The messages the examples give with code 0. */
  successMessages: Set<string>;
}

let loaded: LoadedContract | undefined;

function contract(): LoadedContract {
  if (loaded) return loaded;
  const doc = parse(readFileSync(PSBC_CONTRACT_URL, "utf8")) as ContractDoc;
  // strict: false lets OpenAPI's own keywords (example, x-enum-descriptions, ...) through; the formats it uses
  // carry no constraint a JSON value could break beyond its type.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat("binary", true);
  // The whole document under one id, so the schemas' `#/components/schemas/...` refs resolve inside it.
  ajv.addSchema({ ...doc, $id: CONTRACT_ID });

  const examples: ContractExample[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (!HTTP_METHODS.has(method)) continue;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        for (const [mediaType, media] of Object.entries(response.content ?? {})) {
          for (const [name, example] of Object.entries(media.examples ?? {})) {
            examples.push({ path, httpStatus: Number(status), mediaType, name, value: example.value });
          }
        }
      }
    }
  }
  const codesByStatus = new Map<number, Set<number>>();
  const successMessages = new Set<string>();
  for (const { httpStatus, value } of examples) {
    if (!isEnvelope(value)) continue;
    let codes = codesByStatus.get(httpStatus);
    if (!codes) codesByStatus.set(httpStatus, (codes = new Set()));
    codes.add(value.code);
    if (value.code === 0) successMessages.add(value.msg);
  }
  loaded = { doc, ajv, validators: new Map(), examples, codesByStatus, successMessages };
  return loaded;
}

function isEnvelope(value: unknown): value is { code: number; msg: string; traceId?: unknown } {
  return typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "number";
}

const pointer = (segment: string) => segment.replaceAll("~", "~0").replaceAll("/", "~1");

function validatorAt(jsonPointer: string): ValidateFunction {
  const c = contract();
  let validate = c.validators.get(jsonPointer);
  if (!validate) {
    validate = c.ajv.compile({ $ref: `${CONTRACT_ID}#${jsonPointer}` });
    c.validators.set(jsonPointer, validate);
  }
  return validate;
}

/** Every response example of the contract, in document order. */
export function contractResponseExamples(): ContractExample[] {
  return contract().examples;
}

/**
 * The columns of the reconciliation file, in order, as the download operation's description tables them
 * (`| 序号 | 字段名 | 说明 |` under 对账文件内容字段).
 */
export function reconciliationFileColumns(): Array<{ name: string; description: string }> {
  const description = contract().doc.paths["/api/v1/reconciliation/download"]?.post?.description ?? "";
  const table = description.split("对账文件内容字段")[1] ?? "";
  return [...table.matchAll(/^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|$/gm)].map((row) => ({ name: row[2] ?? "", description: row[3] ?? "" }));
}

function fail(where: string, problem: string, body: unknown): never {
  throw new Error(`${where}: ${problem}\nbody: ${JSON.stringify(body)}`);
}

/** The envelope rules the examples show: traceId length, code against HTTP status, the success message. */
function assertEnvelopeRules(where: string, httpStatus: number, body: unknown): void {
  if (!isEnvelope(body)) fail(where, "body has no numeric code", body);
  const c = contract();
  if (typeof body.traceId !== "string" || body.traceId.length === 0 || body.traceId.length > TRACE_ID_MAX) {
    fail(where, `traceId must be a string of 1..${TRACE_ID_MAX} characters`, body);
  }
  const codes = c.codesByStatus.get(httpStatus);
  if (codes && !codes.has(body.code)) {
    fail(where, `code ${body.code} does not go with HTTP ${httpStatus} (contract examples: ${[...codes].join(", ")})`, body);
  }
  if ((body.code === 0) !== c.successMessages.has(body.msg)) {
    fail(where, `msg "${body.msg}" does not go with code ${body.code}`, body);
  }
}

/**
 * Throws unless `body` is a response the contract allows for `path` with `httpStatus`: a declared status,
 * valid against that status's schema, and consistent with the envelope rules of the contract's examples.
 */
export function assertContractResponse(path: string, httpStatus: number, body: unknown): void {
  const where = `${path} HTTP ${httpStatus}`;
  const operations = contract().doc.paths[path];
  if (!operations) fail(where, "the contract has no such path", body);
  const declaredOperations = Object.entries(operations).filter(([key]) => HTTP_METHODS.has(key));
  const [only] = declaredOperations;
  if (!only || declaredOperations.length !== 1) fail(where, "expected exactly one operation on the path", body);
  const [method, operation] = only;
  const declared = Object.keys(operation.responses ?? {});
  const response = operation.responses?.[String(httpStatus)];
  if (!response) fail(where, `status not declared by ${operation.operationId} (declared: ${declared.join(", ")})`, body);

  const mediaTypes = Object.keys(response.content ?? {});
  if (!mediaTypes.includes("application/json")) {
    // A file download (text/csv): the body is the file itself.
    if (typeof body !== "string") fail(where, `expected a ${mediaTypes.join("/")} body`, body);
    return;
  }
  const validate = validatorAt(
    `/paths/${pointer(path)}/${method}/responses/${httpStatus}/content/${pointer("application/json")}/schema`,
  );
  if (!validate(body)) fail(where, `schema: ${contract().ajv.errorsText(validate.errors)}`, body);
  assertEnvelopeRules(where, httpStatus, body);
}

/**
 * For answers outside the contract's operations (unknown path, wrong method): the body must still be the
 * contract's ErrorResponse with a non-zero code.
 */
export function assertContractErrorEnvelope(httpStatus: number, body: unknown): void {
  const where = `error envelope HTTP ${httpStatus}`;
  const validate = validatorAt("/components/schemas/ErrorResponse");
  if (!validate(body)) fail(where, `schema: ${contract().ajv.errorsText(validate.errors)}`, body);
  if (!isEnvelope(body) || body.code === 0) fail(where, "an error must have a non-zero code", body);
  assertEnvelopeRules(where, httpStatus, body);
}
