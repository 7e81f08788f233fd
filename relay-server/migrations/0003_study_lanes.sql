-- Migration 3: relay replicas divide a study's aggregation.
--
-- Each replica folds batches into a lane of its own: a partial encrypted aggregate with
-- its own checkpoint chain (`seq`, `checkpoint_key`), held under a lease the replica
-- renews while it works. A submission is claimed by one lane (`study_submissions.lane`,
-- set once, never moved) and folded only into that lane, in the transaction that moves
-- the lane's checkpoint; a lane whose lease lapsed (its replica died) is taken over
-- whole by another replica, which resumes from its checkpoint. The release merges every
-- lane's partial aggregate.
CREATE TABLE IF NOT EXISTS study_lanes (
  id TEXT PRIMARY KEY,
  study TEXT NOT NULL REFERENCES studies(id),
  owner TEXT NOT NULL,
  lease_until INTEGER NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  checkpoint_key TEXT,
  folded INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lanes_by_study ON study_lanes (study);
ALTER TABLE study_submissions ADD COLUMN lane TEXT;
CREATE INDEX IF NOT EXISTS submissions_by_lane ON study_submissions (lane) WHERE lane IS NOT NULL;
-- A study checkpointed by an earlier release (one checkpoint per study) keeps its
-- totals as its first lane; its lease has lapsed, so the first replica takes it over.
INSERT INTO study_lanes (id, study, owner, lease_until, seq, checkpoint_key, folded, created_at)
  SELECT 'lane-' || id, id, '', 0, checkpoint_seq, checkpoint_key, folded, created_at
  FROM studies WHERE checkpoint_key IS NOT NULL;
