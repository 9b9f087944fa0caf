-- The simulators' state in the embedded platform (test equipment, never the cluster's database): JSON records
-- per kind and key, so a restart keeps every booking at the PSBC sandbox and every voucher URL answering.
CREATE TABLE sandbox.record (
  kind  text NOT NULL,
  key   text NOT NULL,
  value jsonb NOT NULL,
  -- The order records were first put in, for lists (the PSBC sandbox's completion notices).
  seq   bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (kind, key)
);
