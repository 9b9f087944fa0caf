import { pino, type Logger, type LoggerOptions } from "pino";
import { currentTraceId } from "./trace.js";

export type { Logger };

/**
 * The one logger factory: JSON lines, the traceId of the current request on every line (through the
 * async context, so no code has to pass it along), and secrets redacted wherever they appear.
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  const options: LoggerOptions = {
    name,
    level,
    base: { service: name },
    mixin() {
      const traceId = currentTraceId();
      return traceId ? { traceId } : {};
    },
    redact: {
      paths: ["aesKey", "aesIv", "*.aesKey", "*.aesIv", "request", "*.request", "password", "*.password", "mac", "*.mac"],
      censor: "[redacted]",
    },
  };
  return pino(options);
}
