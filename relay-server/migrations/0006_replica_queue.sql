-- Migration 6: the replica queue.
--
-- Objects of completed records waiting to be copied to the replica store: inserted in the
-- transaction that completes the record, deleted once copied, retried with backoff
-- (`next_at`) after a failure, whose code is kept in `last_error`.
CREATE TABLE IF NOT EXISTS replica_queue (
  object_key TEXT PRIMARY KEY,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS replica_queue_due ON replica_queue (next_at);
