-- A service type's AES key and IV are kept sealed (AES-256-GCM under a key-encryption key from the
-- environment, SERVICE_TYPE_KEK), never as plaintext. SQL cannot seal (the key is not the database's), so the
-- order service seals the rows this migration leaves in plaintext when it starts, and nulls the plaintext; the
-- check lets a row hold one form or the other, never both, never neither. `secret_kek_id` names the KEK that
-- sealed the row, so a rotated key can still open rows sealed under its predecessor until they are re-sealed.
ALTER TABLE orders.service_type
  ALTER COLUMN aes_key DROP NOT NULL,
  ALTER COLUMN aes_iv DROP NOT NULL,
  ADD COLUMN secret_ciphertext bytea,
  ADD COLUMN secret_nonce bytea,
  ADD COLUMN secret_tag bytea,
  ADD COLUMN secret_kek_id text,
  ADD CONSTRAINT service_type_secret_one_form CHECK (
    (aes_key IS NOT NULL AND aes_iv IS NOT NULL
      AND secret_ciphertext IS NULL AND secret_nonce IS NULL AND secret_tag IS NULL AND secret_kek_id IS NULL)
    OR (aes_key IS NULL AND aes_iv IS NULL
      AND secret_ciphertext IS NOT NULL AND secret_nonce IS NOT NULL AND secret_tag IS NOT NULL AND secret_kek_id IS NOT NULL)
  );

-- Whether a call with another `mac` (encrypted customer id) than the booking's may see or change the order.
-- Off until PSBC confirms that its encryption of the customer id is deterministic (else the rightful customer
-- would be refused).
ALTER TABLE orders.service_type ADD COLUMN strict_mac boolean NOT NULL DEFAULT false;
