//! Metadata: users, invitations, grants, the record index and the audit log — never
//! record content, never keys. SQLite by default (one file in the data directory, WAL
//! mode); PostgreSQL ([`crate::pg`]) when several relay replicas share the work.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};

/// The tables, in SQLite's dialect; PostgreSQL uses the same text with `BIGINT` for
/// `INTEGER` ([`crate::pg`]).
pub(crate) const SCHEMA: &str = r#"
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
"#;

/// A user row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    /// Opaque user id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// `patient`, `clinician` or `operator`.
    pub role: String,
    /// Patients' pseudonymous id: what records, contexts and grants name.
    pub pseudonym: Option<String>,
    #[serde(skip)]
    pub(crate) pw_hash: Option<String>,
}

/// A record index row: where the ciphertext is and what it is bound to. Never content.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Record {
    /// Record id.
    pub id: String,
    /// Patient pseudonym.
    pub patient: String,
    /// Record type (part of the encryption context).
    pub record_type: String,
    /// Object key in the store (under the patient's prefix).
    pub object_key: String,
    /// Content type of the ciphertext.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// `pending` until the upload completed, then `complete`.
    pub state: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Upload URL expiry (Unix seconds).
    pub expires_at: i64,
}

/// A grant: a patient lets a clinician read one record type.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Grant {
    /// Patient pseudonym.
    pub patient: String,
    /// Clinician user id.
    pub clinician_id: String,
    /// Record type.
    pub record_type: String,
}

/// The metadata database.
#[derive(Clone)]
pub struct Db {
    conn: Option<Arc<Mutex<Connection>>>,
    pg: Option<Arc<crate::pg::PgDb>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.pg.is_some() {
            "Db(postgres)"
        } else {
            "Db(sqlite)"
        })
    }
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        role: r.get(2)?,
        pw_hash: r.get(3)?,
        pseudonym: r.get(4)?,
    })
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: r.get(0)?,
        patient: r.get(1)?,
        record_type: r.get(2)?,
        object_key: r.get(3)?,
        content_type: r.get(4)?,
        size: r.get::<_, i64>(5)?.try_into().unwrap_or(0),
        state: r.get(6)?,
        created_at: r.get(7)?,
        expires_at: r.get(8)?,
    })
}

const USER_COLS: &str = "id, username, role, pw_hash, pseudonym";
const RECORD_COLS: &str =
    "id, patient, record_type, object_key, content_type, size, state, created_at, expires_at";

impl Db {
    /// Opens (and creates) the database file.
    pub fn open(path: &Path) -> ApiResult<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Some(Arc::new(Mutex::new(conn))),
            pg: None,
        })
    }

    /// Connects to PostgreSQL (`postgres://user@127.0.0.1:5432/db`).
    pub fn connect_postgres(url: &str) -> ApiResult<Self> {
        Ok(Self {
            conn: None,
            pg: Some(Arc::new(crate::pg::PgDb::connect(url)?)),
        })
    }

    /// The PostgreSQL store, when that is the backend.
    pub(crate) fn pg(&self) -> Option<&crate::pg::PgDb> {
        self.pg.as_deref()
    }

    /// The SQLite connection (short critical sections only).
    pub(crate) fn conn(&self) -> ApiResult<MutexGuard<'_, Connection>> {
        self.conn
            .as_ref()
            .ok_or_else(|| ApiError::Internal("not a SQLite database".into()))?
            .lock()
            .map_err(|_| ApiError::Internal("database lock poisoned".into()))
    }

    /// Whether the database answers.
    pub fn ready(&self) -> bool {
        if let Some(pg) = self.pg() {
            return pg.ready();
        }
        self.conn()
            .and_then(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .is_ok()
    }

    /// Creates a user; fails with `Conflict` when the name is taken.
    pub fn create_user(&self, user: &User) -> ApiResult<()> {
        if let Some(pg) = self.pg() {
            return pg.create_user(user);
        }
        let c = self.conn()?;
        let res = c.execute(
            "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![user.id, user.username, user.role, user.pw_hash, user.pseudonym, crate::now()],
        );
        match res {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(ApiError::Conflict("that username is taken".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Looks a user up by name.
    pub fn user_by_name(&self, username: &str) -> ApiResult<Option<User>> {
        if let Some(pg) = self.pg() {
            return pg.user_by("username", username);
        }
        Ok(self
            .conn()?
            .prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE username = ?1"
            ))?
            .query_row([username], user_from_row)
            .optional()?)
    }

    /// Looks a user up by id.
    pub fn user_by_id(&self, id: &str) -> ApiResult<Option<User>> {
        if let Some(pg) = self.pg() {
            return pg.user_by("id", id);
        }
        Ok(self
            .conn()?
            .prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?
            .query_row([id], user_from_row)
            .optional()?)
    }

    /// Stores an invitation (only the code's hash).
    pub fn create_invitation(
        &self,
        code_hash: &str,
        clinician_id: &str,
        expires_at: i64,
    ) -> ApiResult<()> {
        if let Some(pg) = self.pg() {
            return pg.create_invitation(code_hash, clinician_id, expires_at);
        }
        self.conn()?.execute(
            "INSERT INTO invitations (code_hash, clinician_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![code_hash, clinician_id, crate::now(), expires_at],
        )?;
        Ok(())
    }

    /// Enrolls a patient with a one-time code, atomically: the code is marked used
    /// and the user created in one transaction. Returns the inviting clinician.
    pub fn redeem_invitation(&self, code_hash: &str, patient: &User) -> ApiResult<String> {
        if let Some(pg) = self.pg() {
            return pg.redeem_invitation(code_hash, patient);
        }
        let mut c = self.conn()?;
        let tx = c.transaction()?;
        let now = crate::now();
        let clinician: Option<String> = tx
            .prepare_cached("SELECT clinician_id FROM invitations WHERE code_hash = ?1 AND used_by IS NULL AND expires_at > ?2")?
                .query_row(params![code_hash, now], |r| r.get(0))
            .optional()?;
        let Some(clinician) = clinician else {
            return Err(ApiError::Conflict(
                "the invitation code is unknown, used or expired".into(),
            ));
        };
        tx.execute(
            "UPDATE invitations SET used_by = ?1, used_at = ?2 WHERE code_hash = ?3 AND used_by IS NULL",
            params![patient.id, now, code_hash],
        )?;
        let res = tx.execute(
            "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES (?1, ?2, 'patient', ?3, ?4, ?5)",
            params![patient.id, patient.username, patient.pw_hash, patient.pseudonym, now],
        );
        if let Err(rusqlite::Error::SqliteFailure(e, _)) = &res {
            if e.code == rusqlite::ErrorCode::ConstraintViolation {
                return Err(ApiError::Conflict("that username is taken".into()));
            }
        }
        res?;
        tx.commit()?;
        Ok(clinician)
    }

    /// Adds a grant (idempotent).
    pub fn add_grant(&self, g: &Grant) -> ApiResult<()> {
        if let Some(pg) = self.pg() {
            return pg.add_grant(g);
        }
        self.conn()?.execute(
            "INSERT OR IGNORE INTO grants (patient, clinician_id, record_type, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![g.patient, g.clinician_id, g.record_type, crate::now()],
        )?;
        Ok(())
    }

    /// Removes a grant; returns whether one existed.
    pub fn revoke_grant(&self, g: &Grant) -> ApiResult<bool> {
        if let Some(pg) = self.pg() {
            return pg.revoke_grant(g);
        }
        let n = self.conn()?.execute(
            "DELETE FROM grants WHERE patient = ?1 AND clinician_id = ?2 AND record_type = ?3",
            params![g.patient, g.clinician_id, g.record_type],
        )?;
        Ok(n > 0)
    }

    /// Whether `clinician_id` may read `record_type` of `patient`.
    pub fn has_grant(
        &self,
        patient: &str,
        clinician_id: &str,
        record_type: &str,
    ) -> ApiResult<bool> {
        if let Some(pg) = self.pg() {
            return pg.has_grant(patient, clinician_id, record_type);
        }
        Ok(self
            .conn()?
            .prepare_cached("SELECT 1 FROM grants WHERE patient = ?1 AND clinician_id = ?2 AND record_type = ?3")?
                .query_row(params![patient, clinician_id, record_type], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Grants given by a patient, or held by a clinician.
    pub fn grants(
        &self,
        patient: Option<&str>,
        clinician_id: Option<&str>,
    ) -> ApiResult<Vec<Grant>> {
        if let Some(pg) = self.pg() {
            return pg.grants(patient, clinician_id);
        }
        let c = self.conn()?;
        let mut st = c.prepare(
            "SELECT patient, clinician_id, record_type FROM grants
             WHERE (?1 IS NULL OR patient = ?1) AND (?2 IS NULL OR clinician_id = ?2)
             ORDER BY patient, clinician_id, record_type",
        )?;
        let rows = st.query_map(params![patient, clinician_id], |r| {
            Ok(Grant {
                patient: r.get(0)?,
                clinician_id: r.get(1)?,
                record_type: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Inserts a pending record (before its upload) on an open connection or
    /// transaction, so the caller can commit it together with its audit row.
    pub fn insert_pending_tx(c: &Connection, r: &Record) -> ApiResult<()> {
        c.prepare_cached(&format!(
            "INSERT INTO records ({RECORD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)"
        ))?
        .execute(params![
            r.id,
            r.patient,
            r.record_type,
            r.object_key,
            r.content_type,
            i64::try_from(r.size).unwrap_or(i64::MAX),
            r.created_at,
            r.expires_at
        ])?;
        Ok(())
    }

    /// Marks a record complete once its object is in place.
    pub fn complete(&self, id: &str) -> ApiResult<()> {
        if let Some(pg) = self.pg() {
            return pg.complete(id);
        }
        self.conn()?.execute(
            "UPDATE records SET state = 'complete', completed_at = ?1 WHERE id = ?2",
            params![crate::now(), id],
        )?;
        Ok(())
    }

    /// A record by id (any state).
    pub fn record(&self, id: &str) -> ApiResult<Option<Record>> {
        if let Some(pg) = self.pg() {
            return pg.record_by("id", id);
        }
        Ok(self
            .conn()?
            .prepare_cached(&format!("SELECT {RECORD_COLS} FROM records WHERE id = ?1"))?
            .query_row([id], record_from_row)
            .optional()?)
    }

    /// A record by object key (any state).
    pub fn record_by_key(&self, key: &str) -> ApiResult<Option<Record>> {
        if let Some(pg) = self.pg() {
            return pg.record_by("object_key", key);
        }
        Ok(self
            .conn()?
            .prepare_cached(&format!(
                "SELECT {RECORD_COLS} FROM records WHERE object_key = ?1"
            ))?
            .query_row([key], record_from_row)
            .optional()?)
    }

    /// Complete records of a patient, optionally of one type.
    pub fn records(&self, patient: &str, record_type: Option<&str>) -> ApiResult<Vec<Record>> {
        if let Some(pg) = self.pg() {
            return pg.records(patient, record_type);
        }
        let c = self.conn()?;
        let mut st = c.prepare(&format!(
            "SELECT {RECORD_COLS} FROM records WHERE patient = ?1 AND (?2 IS NULL OR record_type = ?2)
             AND state = 'complete' ORDER BY created_at, id"
        ))?;
        let rows = st.query_map(params![patient, record_type], record_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Pending records (for crash recovery).
    pub fn pending_records(&self) -> ApiResult<Vec<Record>> {
        if let Some(pg) = self.pg() {
            return pg.pending_records();
        }
        let c = self.conn()?;
        let mut st = c.prepare(&format!(
            "SELECT {RECORD_COLS} FROM records WHERE state = 'pending'"
        ))?;
        let rows = st.query_map([], record_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a pending record whose upload never completed.
    pub fn delete_pending(&self, id: &str) -> ApiResult<()> {
        if let Some(pg) = self.pg() {
            return pg.delete_pending(id);
        }
        self.conn()?.execute(
            "DELETE FROM records WHERE id = ?1 AND state = 'pending'",
            [id],
        )?;
        Ok(())
    }
}
