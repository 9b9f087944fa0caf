// Admin RPCs (registering a service type and its AES key, say) are not part of any caller's flow: anything
// that reaches a service's port could call them, so they require a credential. The token comes from a Secret
// (ADMIN_TOKEN) and travels as `authorization: Bearer <token>`.
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Logger } from "./logger.js";

const BEARER = /^Bearer (\S+)$/;

/** Compares digests, so the time taken says nothing about how much of the token matched, nor its length. */
function sameToken(given: string, expected: string): boolean {
  const digest = (token: string) => createHash("sha256").update(token, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Answers UNAUTHENTICATED to a call of one of `adminMethods` without the admin token; other calls pass. */
export function adminCredentialInterceptor(options: { token: string; adminMethods: readonly DescMethod[]; logger: Logger }): Interceptor {
  if (options.token.length === 0) throw new Error("the admin token must not be empty");
  const admin = new Set(options.adminMethods);
  return (next) => async (req) => {
    if (!admin.has(req.method)) return next(req);
    const given = BEARER.exec(req.header.get("authorization") ?? "")?.[1];
    if (given === undefined || !sameToken(given, options.token)) {
      options.logger.warn({ rpc: `${req.service.typeName}/${req.method.name}`, credential: given === undefined ? "missing" : "wrong" }, "admin rpc refused");
      throw new ConnectError("admin credential required", Code.Unauthenticated);
    }
    return next(req);
  };
}

/** The header an admin client sends. */
export function adminAuthorization(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
