// The one shape of a service: what the cluster roles, the embedded composition, `migrate` and the stream
// declarations need to know about it, and how it starts. Each service has one in services/<name>/service.ts.
import type { CleanedEnv, ValidatorSpec } from "envalid";
import type { EventBus, StreamSpec } from "./bus.js";
import { systemClock, type Clock } from "./clock.js";
import type { Database } from "./database.js";
import type { LockService } from "./lock.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { RateLimiter } from "./rate-limiter.js";
import { readConfig } from "./config.js";
import { hostService, type HostedService, type HostRuntime, type StartedService } from "./service-host.js";

export type ConfigSpec = Record<string, ValidatorSpec<unknown>>;

/** Infrastructure a service needs beyond PostgreSQL and NATS (which every service has). */
export interface ServiceNeeds {
  /** A lock service and a rate limiter (Redis in the cluster, REDIS_URL; in-process when embedded without it). */
  redis?: boolean;
}

/** What a service is started with; `lock` and `limiter` only when it declared `needs: { redis: true }`. */
export type ServiceDeps<Spec extends ConfigSpec, Needs extends ServiceNeeds> = {
  /** Its own variables, read and validated through its spec (in both run modes). */
  env: CleanedEnv<Spec>;
  /** Its database (its schema is `schema.name`). */
  db: Database;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
  /** Where every business time comes from (booking, usage, completion, months): one clock per process. */
  clock: Clock;
  /** Asks the outbox relay to publish what a commit just wrote. */
  eventsWritten(): void;
} & (Needs extends { redis: true } ? { lock: LockService; limiter: RateLimiter } : unknown);

export interface ServiceDescriptor<Spec extends ConfigSpec = ConfigSpec, Needs extends ServiceNeeds = ServiceNeeds> {
  /** The service's name: also its cluster role (`main.js <name>`), its logger's name and its variables' prefix. */
  name: string;
  /** The PostgreSQL schema it owns, and the folder of its own migrations (none: only the shared tables). */
  schema: { name: string; migrationsDir?: string };
  /** The JetStream streams it publishes to (each holds `<stream prefix>.>`). */
  streams: StreamSpec[];
  /**
   * Its own variables (envalid spec): its port `<NAME>_PORT`, its peers' URLs `<PEER>_SERVICE_URL`, its
   * upstreams' URLs, credentials and timeouts. Not the database, bus or Redis: the role reads those.
   */
  config: Spec;
  needs: Needs;
  /** The services it calls (by name): started before it in embedded mode, their URLs given to it. */
  peers: string[];
  start(deps: ServiceDeps<Spec, Needs>): StartedService;
}

/** Any service of the list, whatever its spec. */
export type AnyServiceDescriptor = ServiceDescriptor<ConfigSpec, ServiceNeeds>;

/** Checks a descriptor's types where it is written (`const` keeps `needs: { redis: true }` a literal). */
export function defineService<Spec extends ConfigSpec, const Needs extends ServiceNeeds>(
  descriptor: ServiceDescriptor<Spec, Needs>,
): ServiceDescriptor<Spec, Needs> {
  return descriptor;
}

/** The variable holding the port a service listens on, e.g. ORDER_PORT. */
export function portVariable(service: string): string {
  return `${variablePrefix(service)}_PORT`;
}

/** The variable through which a caller finds a service, e.g. VOUCHER_SERVICE_URL. */
export function serviceUrlVariable(service: string): string {
  return `${variablePrefix(service)}_SERVICE_URL`;
}

function variablePrefix(service: string): string {
  return service.toUpperCase().replaceAll("-", "_");
}

/** The services in an order where each comes after its peers (embedded mode starts them so). */
export function inPeerOrder(descriptors: readonly AnyServiceDescriptor[]): AnyServiceDescriptor[] {
  const byName = new Map(descriptors.map((descriptor) => [descriptor.name, descriptor]));
  const ordered: AnyServiceDescriptor[] = [];
  const visiting = new Set<string>();
  const visit = (descriptor: AnyServiceDescriptor): void => {
    if (ordered.includes(descriptor)) return;
    if (visiting.has(descriptor.name)) throw new Error(`services call each other in a cycle through ${descriptor.name}`);
    visiting.add(descriptor.name);
    for (const peer of descriptor.peers) {
      const peerDescriptor = byName.get(peer);
      if (!peerDescriptor) throw new Error(`${descriptor.name} calls ${peer}, which is not in the list of services`);
      visit(peerDescriptor);
    }
    ordered.push(descriptor);
  };
  for (const descriptor of descriptors) visit(descriptor);
  return ordered;
}

export interface ServiceInfrastructure {
  /** The variables read through the descriptor's spec (process.env in the cluster; an overlay of it embedded). */
  env: NodeJS.ProcessEnv;
  db: Database;
  bus: EventBus;
  /** Required when the descriptor needs Redis. */
  lock?: LockService;
  /** Required when the descriptor needs Redis. */
  limiter?: RateLimiter;
  logger: Logger;
  host: string;
  runtime: HostRuntime;
  /** The system clock unless embedded mode started it elsewhere (CLOCK_START). */
  clock?: Clock;
}

/** Hosts a described service: reads its config, listens on its `<NAME>_PORT`, and hands it its dependencies. */
export async function hostDescribedService(descriptor: AnyServiceDescriptor, infrastructure: ServiceInfrastructure): Promise<HostedService> {
  const { db, bus, lock, limiter, logger, runtime } = infrastructure;
  const env = readConfig(descriptor.config, infrastructure.env);
  const port = env[portVariable(descriptor.name)];
  if (typeof port !== "number") throw new Error(`${descriptor.name}: its config spec has no ${portVariable(descriptor.name)}`);
  if (descriptor.needs.redis && (!lock || !limiter)) throw new Error(`${descriptor.name} needs a lock service and a rate limiter`);
  return hostService({
    name: descriptor.name,
    schema: descriptor.schema.name,
    migrationsDir: descriptor.schema.migrationsDir,
    db,
    bus,
    logger,
    host: infrastructure.host,
    port,
    runtime,
    start({ eventsWritten }) {
      // `lock` and `limiter` are in the deps type only of descriptors that need them; the others ignore them.
      const deps = { env, db, bus, lock, limiter, logger, metrics: runtime.metrics, clock: infrastructure.clock ?? systemClock, eventsWritten };
      const started = descriptor.start(deps);
      if (!descriptor.needs.redis || !lock) return started;
      return { ...started, dependencies: [{ name: "redis", ping: () => lock.ping() }, ...(started.dependencies ?? [])] };
    },
  });
}
