-- A text PSBC or an operator gave (provinceInstNo, a branch name, a service name…) that starts as a spreadsheet
-- formula would (=, +, -, @, tab, CR: OWASP's list) gets a leading apostrophe in the file, so a spreadsheet that
-- opens it shows the text rather than running it. The file's form of each such field is a stored generated
-- column, computed once when the row is written: computed in the file's query it cost ~40 % more time on a month
-- of a million lines. Adding them rewrites the two tables once.
CREATE FUNCTION reconciliation.spreadsheet_text(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN ascii(value) IN (61, 43, 45, 64, 9, 13) THEN '''' || value ELSE value END $$;

ALTER TABLE reconciliation.ledger
  ADD COLUMN file_province_inst_no text GENERATED ALWAYS AS (reconciliation.spreadsheet_text(province_inst_no)) STORED,
  ADD COLUMN file_inst_type text GENERATED ALWAYS AS (reconciliation.spreadsheet_text(inst_type)) STORED,
  ADD COLUMN file_type text GENERATED ALWAYS AS (reconciliation.spreadsheet_text(type)) STORED,
  ADD COLUMN file_service_name text GENERATED ALWAYS AS (reconciliation.spreadsheet_text(service_name)) STORED,
  ADD COLUMN file_code text GENERATED ALWAYS AS (reconciliation.spreadsheet_text(code)) STORED;

ALTER TABLE reconciliation.branch
  ADD COLUMN file_name text GENERATED ALWAYS AS (reconciliation.spreadsheet_text(name)) STORED;
