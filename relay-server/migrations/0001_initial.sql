-- Migration 1: the schema of every release before versioned migrations (every
-- statement is IF NOT EXISTS, so a database made by such a release is adopted as
-- version 1 unchanged). Written once for both backends: SQLite's dialect, with
-- INTEGER read as BIGINT on PostgreSQL.
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('patient', 'clinician', 'operator')),
  pw_hash TEXT,
  pseudonym TEXT UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invitations (
  code_hash TEXT PRIMARY KEY,
  clinician_id TEXT NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_by TEXT,
  used_at INTEGER
);
CREATE TABLE IF NOT EXISTS grants (
  patient TEXT NOT NULL,
  clinician_id TEXT NOT NULL REFERENCES users(id),
  record_type TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (patient, clinician_id, record_type)
);
CREATE TABLE IF NOT EXISTS records (
  id TEXT PRIMARY KEY,
  patient TEXT NOT NULL,
  record_type TEXT NOT NULL,
  object_key TEXT NOT NULL UNIQUE,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE INDEX IF NOT EXISTS records_by_patient ON records (patient, record_type, state);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  patient TEXT,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_patient ON audit (patient);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor);
CREATE TABLE IF NOT EXISTS vital_alerts (
  id TEXT PRIMARY KEY,
  patient TEXT NOT NULL,
  session TEXT NOT NULL,
  rule TEXT NOT NULL,
  loinc TEXT NOT NULL,
  severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
  transition TEXT NOT NULL CHECK (transition IN ('raised', 'cleared')),
  episode_start INTEGER NOT NULL,
  at INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vital_alerts_by_patient ON vital_alerts (patient, received_at);
CREATE TABLE IF NOT EXISTS studies (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('keys-pending', 'open', 'released')),
  folded INTEGER NOT NULL DEFAULT 0,
  checkpoint_seq INTEGER NOT NULL DEFAULT 0,
  checkpoint_key TEXT,
  release_requested INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  released_at INTEGER
);
CREATE TABLE IF NOT EXISTS study_artifacts (
  study TEXT NOT NULL REFERENCES studies(id),
  kind TEXT NOT NULL,
  object_key TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (study, kind)
);
CREATE TABLE IF NOT EXISTS study_submissions (
  id TEXT PRIMARY KEY,
  study TEXT NOT NULL REFERENCES studies(id),
  patient TEXT NOT NULL,
  object_key TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'folded', 'refused')),
  reason TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_submission_per_patient
  ON study_submissions (study, patient) WHERE state <> 'refused';
CREATE INDEX IF NOT EXISTS submissions_by_state ON study_submissions (study, state);
CREATE TABLE IF NOT EXISTS trainings (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  config TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'done')),
  round INTEGER NOT NULL DEFAULT 0,
  key_study TEXT NOT NULL UNIQUE REFERENCES studies(id),
  accountant TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE TABLE IF NOT EXISTS training_rounds (
  training TEXT NOT NULL REFERENCES trainings(id),
  round INTEGER NOT NULL,
  study TEXT NOT NULL UNIQUE REFERENCES studies(id),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (training, round)
);
CREATE TABLE IF NOT EXISTS training_models (
  training TEXT NOT NULL REFERENCES trainings(id),
  after_round INTEGER NOT NULL,
  weights TEXT NOT NULL,
  evaluation TEXT,
  epsilon TEXT NOT NULL,
  sigma TEXT,
  folded INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (training, after_round)
);
