import { UpstreamError } from "../../services/common/upstream-http.js";

/** What an adapter test asserts of a failed upstream call: it must fail, and with an UpstreamError. */
export async function upstreamError(promise: Promise<unknown>): Promise<Pick<UpstreamError, "kind" | "code" | "platform" | "operation">> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    return { kind: err.kind, code: err.code, platform: err.platform, operation: err.operation };
  }
  throw new Error("expected an UpstreamError");
}
