-- The ledger: one row per completed order (from order.completed), under the business month of its completion,
-- with every column of the reconciliation file but the branch name (looked up when a file is generated).
CREATE TABLE reconciliation.ledger (
  order_no text PRIMARY KEY,
  provider_code text NOT NULL,
  -- YYYYMM of completed_time, Asia/Shanghai
  month text NOT NULL,
  province_inst_no text NOT NULL,
  inst_type text NOT NULL,
  type text NOT NULL,
  service_name text NOT NULL,
  -- yyyyMMddHHmmss, Asia/Shanghai
  booked_time text NOT NULL,
  completed_time text NOT NULL,
  code text NOT NULL,
  key_status integer NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
-- A month's file reads its rows in this order.
CREATE INDEX ledger_file_idx ON reconciliation.ledger (provider_code, month, order_no);

-- 一分机构名称 by 一分机构序号, loaded by an operator (ImportBranches, `ops branches import`).
CREATE TABLE reconciliation.branch (
  province_inst_no text PRIMARY KEY,
  name text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One file per month and file interface, never two; regenerating swaps its content and keeps its file_id.
CREATE TABLE reconciliation.file (
  file_id text PRIMARY KEY,
  file_intfc_name text NOT NULL,
  month text NOT NULL,
  file_name text NOT NULL,
  file_size bigint NOT NULL,
  content_id bigint NOT NULL,
  -- by the business clock
  created_at timestamptz NOT NULL,
  UNIQUE (file_intfc_name, month)
);

-- A file's bytes in order, in chunks of about 1 MiB, so every replica reads them and restarts keep them.
CREATE SEQUENCE reconciliation.file_content_seq;
CREATE TABLE reconciliation.file_chunk (
  content_id bigint NOT NULL,
  seq integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (content_id, seq)
);
-- Out of line but not compressed: CSV compresses, but compressing costs more time than the space is worth here.
ALTER TABLE reconciliation.file_chunk ALTER COLUMN data SET STORAGE EXTERNAL;

-- A file interface's download password as set by an operator: its argon2id hash only.
CREATE TABLE reconciliation.download_password (
  file_intfc_name text PRIMARY KEY,
  hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A CSV field (RFC 4180): quoted, inner quotes doubled, when it holds a comma, a quote or a line break.
-- A plain SQL expression, not STRICT (a CASE is not strict), so the planner inlines it into the file's query
-- instead of calling a function per field.
CREATE FUNCTION reconciliation.csv_field(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN value ~ '[",\r\n]' THEN '"' || replace(value, '"', '""') || '"' ELSE value END $$;
