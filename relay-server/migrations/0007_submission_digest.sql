-- Migration 7: the digest of a study submission whose proof was checked.
--
-- When a patient completes a submission the relay checks its proof and keeps the
-- SHA-256 of the list it checked (base64). The aggregation worker expands a list whose
-- object still has this digest without checking the proof a second time, and refuses one
-- whose object changed since (a presigned upload stays valid until it expires).
-- Submissions accepted before this migration have none; their proofs are checked again.
ALTER TABLE study_submissions ADD COLUMN proof_digest TEXT;
