-- An ERP app's secret rotation with an overlap: the secret it replaced still verifies until
-- previous_secret_until (the operator's deadline, 24 h unless told), so the ERP can switch without a failed
-- call. Sealed under WHALE_KEK like the current one, bound to the row as the app's previous secret.
ALTER TABLE vouchers.erp_app
  ADD COLUMN previous_secret_ciphertext bytea,
  ADD COLUMN previous_secret_nonce      bytea,
  ADD COLUMN previous_secret_tag        bytea,
  ADD COLUMN previous_secret_kek_id     text,
  ADD COLUMN previous_secret_until      timestamptz,
  ADD CONSTRAINT erp_app_previous_secret_whole CHECK (
    (previous_secret_ciphertext IS NULL) = (previous_secret_nonce IS NULL)
    AND (previous_secret_nonce IS NULL) = (previous_secret_tag IS NULL)
    AND (previous_secret_tag IS NULL) = (previous_secret_kek_id IS NULL)
    AND (previous_secret_kek_id IS NULL) = (previous_secret_until IS NULL)
  );
