import DataLoader from "dataloader";

/** At most this many lookups share a statement. */
const MAX_KEYS_PER_STATEMENT = 100;

/**
 * Lookups by one unique key asked in the same turn of the event loop, answered by one statement (`loadRows` of
 * all their keys, e.g. `WHERE key = ANY($1)`): under load a round trip per request is most of a service's time on
 * a read. Nothing is cached: each lookup is answered by a statement that began after it was asked.
 */
export function batchedLookup<Row>(
  loadRows: (keys: readonly string[]) => Promise<readonly Row[]>,
  keyOf: (row: Row) => string,
): (key: string) => Promise<Row | undefined> {
  const loader = new DataLoader<string, Row | undefined>(
    async (keys) => {
      const found = new Map((await loadRows(keys)).map((row) => [keyOf(row), row]));
      return keys.map((key) => found.get(key));
    },
    // setImmediate: every request read off the sockets in this turn asks before the statement goes out.
    { cache: false, maxBatchSize: MAX_KEYS_PER_STATEMENT, batchScheduleFn: (run) => setImmediate(run) },
  );
  return (key) => loader.load(key);
}
