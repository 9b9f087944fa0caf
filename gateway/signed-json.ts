import { Ajv, type Format } from "ajv";
import type { FastifyInstance, FastifyRequest } from "fastify";

/**
 * The set-up shared by the plugins whose callers sign their JSON bodies (/whale/erp, /whale/channel, Blue
 * Brothers' callbacks): the body is kept as received, since the signature covers those exact bytes and not a
 * re-serialisation, and parsed by fastify's own JSON parser (prototype poisoning refused); bodies are validated
 * with first-error-only messages that name the rule (verbose: the failing schema's description) and strict types
 * (no coercion, no defaults, nothing removed). Returns the reader of a request's raw body (empty when it had none).
 */
export function acceptSignedJson(scope: FastifyInstance, formats: Readonly<Record<string, Format>> = {}): (request: FastifyRequest) => Buffer {
  const rawBodies = new WeakMap<FastifyRequest, Buffer>();
  const jsonParser = scope.getDefaultJsonParser("error", "error");
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    rawBodies.set(request, body as Buffer);
    jsonParser(request, (body as Buffer).toString("utf8"), done);
  });
  const ajv = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, verbose: true, strict: false });
  for (const [name, format] of Object.entries(formats)) ajv.addFormat(name, format);
  scope.setValidatorCompiler(({ schema }) => ajv.compile(schema));
  return (request) => rawBodies.get(request) ?? Buffer.alloc(0);
}
