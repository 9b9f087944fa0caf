// Download passwords, one per file interface: set by an operator and stored only as an argon2id hash (or given
// as a hash from a Secret), verified by argon2 (constant time), with wrong attempts throttled per client.
import { hash, verify } from "@node-rs/argon2";
import type { Database } from "../common/database.js";
import type { Logger } from "../common/logger.js";
import type { RateLimiter } from "../common/rate-limiter.js";
import { reconciliationError, ReconciliationError } from "./errors.js";

/** The contract's bound on the password field; below 8 characters a password is too easily guessed. */
export const PASSWORD_LENGTH = { min: 8, max: 32 } as const;

/** argon2id, the library's default, with its defaults (19 MiB, 2 passes): OWASP's minimum, tens of ms a check. */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export interface PasswordDeps {
  db: Database;
  limiter: RateLimiter;
  logger: Logger;
  /** The hash from configuration (a Secret; embedded: RECONCILIATION_PASSWORD's), used until an operator sets one. */
  configuredHash: string | undefined;
  maxFailures: number;
  windowMs: number;
}

export class DownloadPasswords {
  /** Verified against when an interface has no password, so that answer takes as long as a wrong one. */
  private readonly unmatchable = hashPassword(crypto.randomUUID());

  constructor(private readonly deps: PasswordDeps) {}

  async set(fileIntfcName: string, password: string): Promise<void> {
    if (password.length < PASSWORD_LENGTH.min || password.length > PASSWORD_LENGTH.max) {
      throw reconciliationError(ReconciliationError.PARAMETER_INVALID, `a download password has ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters`);
    }
    await this.deps.db.query(
      `INSERT INTO reconciliation.download_password (file_intfc_name, hash) VALUES ($1, $2)
       ON CONFLICT (file_intfc_name) DO UPDATE SET hash = EXCLUDED.hash, updated_at = now()`,
      [fileIntfcName, await hashPassword(password)],
    );
    this.deps.logger.info({ fileIntfcName }, "download password set");
  }

  /**
   * Throws DOWNLOAD_THROTTLED while `client` has used up its wrong attempts, DOWNLOAD_PASSWORD_WRONG (and counts
   * one more) when the password does not match. The password itself is never logged.
   */
  async check(fileIntfcName: string, password: string, client: string): Promise<void> {
    const { limiter, logger, maxFailures, windowMs } = this.deps;
    const key = `download-password:${client}`;
    if ((await limiter.failures(key)) >= maxFailures) {
      logger.warn({ client, fileIntfcName }, "download refused: too many wrong passwords");
      throw reconciliationError(ReconciliationError.DOWNLOAD_THROTTLED, "too many wrong passwords; try again later");
    }
    const stored = await this.hashOf(fileIntfcName);
    const matches = await verify(stored ?? (await this.unmatchable), password).catch(() => false);
    if (stored && matches) return;
    const failures = await limiter.fail(key, windowMs);
    logger.warn({ client, fileIntfcName, failures, passwordSet: stored !== undefined }, "download refused: wrong password");
    throw reconciliationError(ReconciliationError.DOWNLOAD_PASSWORD_WRONG, "wrong password");
  }

  private async hashOf(fileIntfcName: string): Promise<string | undefined> {
    const { rows } = await this.deps.db.query<{ hash: string }>(
      "SELECT hash FROM reconciliation.download_password WHERE file_intfc_name = $1",
      [fileIntfcName],
    );
    return rows[0]?.hash ?? this.deps.configuredHash;
  }
}
