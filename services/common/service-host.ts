import type { ConnectRouter } from "@connectrpc/connect";
import type { EventBus } from "./bus.js";
import type { Database } from "./database.js";
import { HealthStatus } from "./health.js";
import type { Logger } from "./logger.js";
import { migrate } from "./migrate.js";
import { OutboxRelay } from "./outbox.js";
import { startRpcServer } from "./rpc-server.js";

export interface HostedService {
  name: string;
  port: number;
  health: HealthStatus;
  /** Not serving first, then the server and the outbox relay stop; the caller closes the connections. */
  close(): Promise<void>;
}

export interface HostOptions {
  name: string;
  /** The PostgreSQL schema the service owns; its migrations live in `migrationsDir`. */
  schema: string;
  migrationsDir: string;
  db: Database;
  bus: EventBus;
  logger: Logger;
  host: string;
  port: number;
  /** Runs after the migrations and before the service reports SERVING (seed data, warm caches). */
  prepare?(): Promise<void>;
  /** The service's routes; `eventsWritten` asks the outbox relay to publish what a commit just wrote. */
  routes(context: { eventsWritten(): void }): (router: ConnectRouter) => void;
}

/** Every service starts the same way: migrate its schema, relay its outbox, serve gRPC with health. */
export async function hostService(options: HostOptions): Promise<HostedService> {
  const { name, schema, db, bus, logger } = options;
  await migrate(db, { schema, migrationsDir: options.migrationsDir, logger });
  await options.prepare?.();
  const health = new HealthStatus();
  health.setAll(false);
  const relay = new OutboxRelay({ db, schema, bus, logger });
  relay.start();
  const server = await startRpcServer({
    name,
    host: options.host,
    port: options.port,
    routes: options.routes({ eventsWritten: () => relay.kick() }),
    health,
    logger,
  });
  health.setAll(true);
  logger.info({ port: server.port }, `${name} service serving`);
  return {
    name,
    port: server.port,
    health,
    async close() {
      health.setAll(false);
      await server.close();
      await relay.stop();
    },
  };
}
