-- Migration 003's SQL comment called a send channel's orderEncryptKey "the ESB's public key". It is not: for
-- encryptType 3DES it is the key shared with the code maker, for RSA WHALE's private key for the channel (the
-- ESB is sent its public half). Said in the catalogue, where psql's \d+ shows it, without touching 003.
COMMENT ON COLUMN vouchers.send_channel.secret_ciphertext IS
  'orderEncryptKey sealed under WHALE_KEK (AES-256-GCM, bound to the row): for encryptType 3DES the key shared with the code maker; for RSA WHALE''s private key for the channel, PKCS#8 PEM (the ESB is sent its public half). Never the ESB''s own key.';
