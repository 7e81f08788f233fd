-- Migration 4: end-to-end keys.
--
-- An account's ECDH public key (DER SubjectPublicKeyInfo, base64) and its fingerprint;
-- the account's private key wrapped under its passphrase in the browser (opaque to the
-- relay: it holds no key that opens it); and key shares: a record's data key wrapped in
-- the patient's browser for a reader granted after the record was written (opaque too).
-- Revoking a grant deletes the reader's shares of that patient's records of that type.
CREATE TABLE IF NOT EXISTS user_keys (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  public_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_backups (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  backup TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS record_key_shares (
  record_id TEXT NOT NULL REFERENCES records(id),
  reader TEXT NOT NULL REFERENCES users(id),
  share TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (record_id, reader)
);
CREATE INDEX IF NOT EXISTS key_shares_by_reader ON record_key_shares (reader);
