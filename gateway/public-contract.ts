import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { OpenAPIV3 } from "openapi-types";

/**
 * One public HTTP contract the gateway serves (PSBC's today; Blue Brothers' callback, the WHALE back office and
 * the wallet API next): an encapsulated plugin under its own prefix with its own schemas, error map and
 * handlers, and its OpenAPI document generated from the schemas its routes validate with.
 */
export interface PublicContract {
  /** Names its documentation: the page at /docs/<name>, the document at /docs/<name>/openapi.json. */
  name: string;
  prefix: string;
  /** The document's info and tags; its paths come from the routes. */
  document: Pick<OpenAPIV3.Document, "info" | "tags">;
  /** Registers the contract's plugin, with its options, under `prefix`. */
  register(scope: FastifyInstance, prefix: string): unknown;
  /** Answers an error Fastify raises before routing (a malformed URL) for a path under `prefix`. */
  sendPreRoutingError(err: Error, request: FastifyRequest, reply: FastifyReply): unknown;
}

/** The contract's plugin, and its OpenAPI document and page, generated ("dynamic" mode) from its routes alone. */
export async function registerPublicContract(app: FastifyInstance, contract: PublicContract): Promise<void> {
  await app.register(async (scope) => {
    // Registered in this scope, the document sees this contract's routes and no other's.
    await scope.register(fastifySwagger, { mode: "dynamic", openapi: { openapi: "3.0.3", ...contract.document } });
    await contract.register(scope, contract.prefix);
    const docs = `/docs/${contract.name}`;
    scope.get(`${docs}/openapi.json`, { schema: { hide: true } }, async () => scope.swagger());
    await scope.register(fastifySwaggerUi, { routePrefix: docs });
  });
}
