/** Whether the real PostgreSQL, Redis and NATS are given: the cluster-path tests run only then (CI gives all three). */
export const cluster = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL && process.env.NATS_URL);
