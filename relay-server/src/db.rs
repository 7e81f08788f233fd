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
"#;

/// A value bound to, or read from, a SQL statement run on either backend
/// ([`Db::exec`], [`Db::query`], [`Db::transaction`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// NULL.
    Null,
}

impl Val {
    pub(crate) fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            _ => 0,
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Val::Text(t) => t.clone(),
            _ => String::new(),
        }
    }

    pub(crate) fn opt_text(&self) -> Option<String> {
        match self {
            Val::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_owned())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}

impl From<Option<String>> for Val {
    fn from(s: Option<String>) -> Self {
        s.map_or(Val::Null, Val::Text)
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn sqlite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Vec<Val>> {
    (0..n)
        .map(|i| {
            Ok(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Integer(v) => Val::Int(v),
                rusqlite::types::ValueRef::Text(t) => {
                    Val::Text(String::from_utf8_lossy(t).into_owned())
                }
                _ => Val::Null,
            })
        })
        .collect()
}

/// `?1`-style placeholders to PostgreSQL's `$1`.
fn pg_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

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

/// A clinician as the directory lists them (what a patient needs to grant).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Clinician {
    /// User id (what a grant names).
    pub id: String,
    /// Login name.
    pub username: String,
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
    /// Runs one statement (placeholders `?1`, `?2`, …) on either backend; returns the
    /// number of rows changed. A constraint violation is a `Conflict`.
    pub(crate) fn exec(&self, sql: &str, args: &[Val]) -> ApiResult<usize> {
        self.transaction(&[(sql, args)])
            .map(|n| n.first().copied().unwrap_or(0))
    }

    /// Runs statements in one transaction; returns each one's changed-row count. When
    /// the first statement changes no row the transaction is rolled back (a guarded
    /// update lost a race) and the counts are all 0.
    pub(crate) fn transaction(&self, stmts: &[(&str, &[Val])]) -> ApiResult<Vec<usize>> {
        let conflict = |what: String| ApiError::Conflict(what);
        if let Some(pg) = self.pg() {
            return pg.with_tx(|tx| {
                let mut counts = Vec::with_capacity(stmts.len());
                for (i, (sql, args)) in stmts.iter().enumerate() {
                    let params = crate::pg::params(args);
                    let n = tx.execute(&pg_sql(sql), &params)?;
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    if i == 0 && n == 0 {
                        return Ok(vec![0; stmts.len()]);
                    }
                    counts.push(n);
                }
                Ok(counts)
            });
        }
        let mut c = self.conn()?;
        let tx = c.transaction()?;
        let mut counts = Vec::with_capacity(stmts.len());
        for (i, (sql, args)) in stmts.iter().enumerate() {
            let n = match tx.execute(sql, rusqlite::params_from_iter(args.iter())) {
                Ok(n) => n,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(conflict("that would duplicate an existing entry".into()));
                }
                Err(e) => return Err(e.into()),
            };
            if i == 0 && n == 0 {
                return Ok(vec![0; stmts.len()]);
            }
            counts.push(n);
        }
        tx.commit()?;
        Ok(counts)
    }

    /// Runs a query (placeholders `?1`, …) returning `columns` values per row.
    pub(crate) fn query(
        &self,
        sql: &str,
        args: &[Val],
        columns: usize,
    ) -> ApiResult<Vec<Vec<Val>>> {
        if let Some(pg) = self.pg() {
            let rows = pg.with(|c| c.query(&pg_sql(sql), &crate::pg::params(args)))?;
            return Ok(rows
                .iter()
                .map(|r| crate::pg::row_vals(r, columns))
                .collect());
        }
        let c = self.conn()?;
        let mut stmt = c.prepare(sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            sqlite_row(r, columns)
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Opens (and creates) the database file.
    ///
    /// The file, its WAL and shared-memory files are private (0600): they hold
    /// password hashes. SQLite gives the WAL files the database file's mode.
    pub fn open(path: &Path) -> ApiResult<Self> {
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| ApiError::Internal(format!("database file: {e}")))?;
        }
        let conn = Connection::open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            crate::private_file(Path::new(&p))?;
        }
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

    /// Every clinician, by username.
    pub fn clinicians(&self) -> ApiResult<Vec<Clinician>> {
        let rows = self.query(
            "SELECT id, username FROM users WHERE role = 'clinician' ORDER BY username LIMIT 1000",
            &[],
            2,
        )?;
        Ok(rows
            .iter()
            .map(|r| Clinician {
                id: r.first().map(Val::text).unwrap_or_default(),
                username: r.get(1).map(Val::text).unwrap_or_default(),
            })
            .collect())
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

    /// Counts rows of a `SELECT COUNT(*) …` query on either backend.
    fn count(&self, sql: &str, args: &[Val]) -> ApiResult<i64> {
        Ok(self
            .query(sql, args, 1)?
            .first()
            .and_then(|r| r.first())
            .map_or(0, Val::int))
    }

    /// Pending records of `patient` whose upload URL is still valid at `now`.
    pub fn pending_count(&self, patient: &str, now: i64) -> ApiResult<i64> {
        self.count(
            "SELECT COUNT(*) FROM records WHERE patient = ?1 AND state = 'pending' AND expires_at > ?2",
            &[patient.into(), Val::Int(now)],
        )
    }

    /// Unused invitations of `clinician_id` still valid at `now`.
    pub fn open_invitations(&self, clinician_id: &str, now: i64) -> ApiResult<i64> {
        self.count(
            "SELECT COUNT(*) FROM invitations WHERE clinician_id = ?1 AND used_by IS NULL AND expires_at > ?2",
            &[clinician_id.into(), Val::Int(now)],
        )
    }

    /// Whether an invitation code (by hash) is unused and valid at `now`.
    pub fn invitation_open(&self, code_hash: &str, now: i64) -> ApiResult<bool> {
        Ok(self.count(
            "SELECT COUNT(*) FROM invitations WHERE code_hash = ?1 AND used_by IS NULL AND expires_at > ?2",
            &[code_hash.into(), Val::Int(now)],
        )? > 0)
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
