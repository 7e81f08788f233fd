-- Migration 2: the per-patient cap on pending uploads counts a patient's pending
-- records still valid (`patient = ? AND state = 'pending' AND expires_at > ?`) on
-- every upload request; start-up recovery lists every pending record. A partial index
-- over pending rows answers both without reading completed records.
CREATE INDEX IF NOT EXISTS records_pending ON records (patient, expires_at) WHERE state = 'pending';
