-- Migration 5: the audit chain's second version and its signed checkpoints.
--
-- Rows from `v2_from` on link a digest of their content (phiveil_core::audit_proof), so a
-- patient can check its own rows against a signed checkpoint with only the other rows'
-- digests; the rows before keep the first version's hash, and `audit verify` checks each
-- by its version. Checkpoints at every 256th row are signed by the relay's checkpoint key
-- when first asked for and kept, so that a later answer must agree with them.
CREATE TABLE IF NOT EXISTS audit_meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO audit_meta (key, value) SELECT 'v2_from', COALESCE(MAX(seq), 0) + 1 FROM audit;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  ts INTEGER NOT NULL,
  signature TEXT NOT NULL
);
