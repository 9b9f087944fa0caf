-- A text PSBC or an operator gave (provinceInstNo, a branch name, a service name…) that starts as a spreadsheet
-- formula would (=, +, -, @, tab, CR: OWASP's list) gets a leading apostrophe in the file, so a spreadsheet that
-- opens it shows the text rather than running it. A plain SQL expression, as csv_field, so it is inlined.
CREATE FUNCTION reconciliation.spreadsheet_text(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN left(value, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || value ELSE value END $$;
