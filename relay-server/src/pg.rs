//! Metadata in PostgreSQL, for several relay replicas sharing one database: the same
//! tables and operations as the SQLite default ([`crate::db`]). The audit chain stays
//! one chain across replicas: each append locks the audit table for its transaction.
//!
//! Uses the synchronous `postgres` client behind a mutex; calls made from inside the
//! async runtime run under `block_in_place`, so a worker thread is never blocked
//! unannounced.

use std::sync::Mutex;

use postgres::{Client, NoTls, Row};

use crate::audit::{AuditEvent, AuditQuery, AuditRow};
use crate::db::{Grant, Record, User};
use crate::error::{ApiError, ApiResult};

const USER_COLS: &str = "id, username, role, pw_hash, pseudonym";
const RECORD_COLS: &str =
    "id, patient, record_type, object_key, content_type, size, state, created_at, expires_at";
const AUDIT_COLS: &str = "seq, ts, actor, role, action, patient, outcome, detail, prev_hash, hash";

fn pg_err(e: postgres::Error) -> ApiError {
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
        return ApiError::Conflict("that name is taken".into());
    }
    ApiError::Internal(format!("postgres: {e}"))
}

fn user(r: &Row) -> User {
    User {
        id: r.get(0),
        username: r.get(1),
        role: r.get(2),
        pw_hash: r.get(3),
        pseudonym: r.get(4),
    }
}

fn record(r: &Row) -> Record {
    Record {
        id: r.get(0),
        patient: r.get(1),
        record_type: r.get(2),
        object_key: r.get(3),
        content_type: r.get(4),
        size: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
        state: r.get(6),
        created_at: r.get(7),
        expires_at: r.get(8),
    }
}

fn audit_row(r: &Row) -> AuditRow {
    AuditRow {
        seq: r.get(0),
        ts: r.get(1),
        event: AuditEvent {
            actor: r.get(2),
            role: r.get(3),
            action: r.get(4),
            patient: r.get(5),
            outcome: r.get(6),
            detail: r.get(7),
        },
        prev_hash: r.get(8),
        hash: r.get(9),
    }
}

/// Statement parameters from [`crate::db::Val`]s.
pub(crate) fn params(args: &[crate::db::Val]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    // Only text columns take NULL here.
    static NULL: Option<&str> = None;
    args.iter()
        .map(|a| -> &(dyn postgres::types::ToSql + Sync) {
            match a {
                crate::db::Val::Int(i) => i,
                crate::db::Val::Text(t) => t,
                crate::db::Val::Null => &NULL,
            }
        })
        .collect()
}

/// A row's first `n` columns as [`crate::db::Val`]s (BIGINT or TEXT; NULL otherwise).
pub(crate) fn row_vals(r: &Row, n: usize) -> Vec<crate::db::Val> {
    use crate::db::Val;
    (0..n)
        .map(|i| {
            if let Ok(Some(v)) = r.try_get::<_, Option<i64>>(i) {
                Val::Int(v)
            } else if let Ok(Some(v)) = r.try_get::<_, Option<String>>(i) {
                Val::Text(v)
            } else {
                Val::Null
            }
        })
        .collect()
}

/// Runs blocking work, announcing it to the runtime when called from inside one.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The PostgreSQL metadata store.
pub struct PgDb {
    client: Mutex<Option<Client>>,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Closing the connection blocks: announce it to the runtime as well.
        if let Some(c) = self.client.get_mut().ok().and_then(Option::take) {
            blocking(move || drop(c));
        }
    }
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgDb")
    }
}

impl PgDb {
    /// Connects (`postgres://…`) and creates the tables when missing.
    pub fn connect(url: &str) -> ApiResult<Self> {
        blocking(|| {
            let mut client = Client::connect(url, NoTls).map_err(pg_err)?;
            // Several replicas may start at once: serialize the schema set-up.
            let mut tx = client.transaction().map_err(pg_err)?;
            tx.execute("SELECT pg_advisory_xact_lock(7264816)", &[])
                .map_err(pg_err)?;
            // The SQLite schema with 64-bit integer columns.
            tx.batch_execute(&crate::db::SCHEMA.replace("INTEGER", "BIGINT"))
                .map_err(pg_err)?;
            tx.commit().map_err(pg_err)?;
            Ok(Self {
                client: Mutex::new(Some(client)),
            })
        })
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> ApiResult<T> {
        blocking(|| {
            let mut guard = self
                .client
                .lock()
                .map_err(|_| ApiError::Internal("postgres lock poisoned".into()))?;
            let c = guard
                .as_mut()
                .ok_or_else(|| ApiError::Internal("postgres connection closed".into()))?;
            f(c).map_err(pg_err)
        })
    }

    /// Runs `f` in a transaction, committed when `f` succeeds.
    pub(crate) fn with_tx<T>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> ApiResult<T> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    pub(crate) fn ready(&self) -> bool {
        self.with(|c| c.simple_query("SELECT 1")).is_ok()
    }

    pub(crate) fn create_user(&self, u: &User) -> ApiResult<()> {
        let res = self.with(|c| {
            c.execute(
                "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&u.id, &u.username, &u.role, &u.pw_hash, &u.pseudonym, &crate::now()],
            )
        });
        match res {
            Err(ApiError::Conflict(_)) => Err(ApiError::Conflict("that username is taken".into())),
            other => other.map(|_| ()),
        }
    }

    pub(crate) fn user_by(&self, column: &str, value: &str) -> ApiResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE {column} = $1");
        Ok(self
            .with(|c| c.query_opt(sql.as_str(), &[&value]))?
            .as_ref()
            .map(user))
    }

    pub(crate) fn create_invitation(
        &self,
        code_hash: &str,
        clinician_id: &str,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO invitations (code_hash, clinician_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&code_hash, &clinician_id, &crate::now(), &expires_at],
            )
        })
        .map(|_| ())
    }

    pub(crate) fn redeem_invitation(&self, code_hash: &str, patient: &User) -> ApiResult<String> {
        let now = crate::now();
        let out = self.with(|c| {
            let mut tx = c.transaction()?;
            let row = tx.query_opt(
                "SELECT clinician_id FROM invitations WHERE code_hash = $1 AND used_by IS NULL AND expires_at > $2 FOR UPDATE",
                &[&code_hash, &now],
            )?;
            let Some(row) = row else {
                return Ok(Err(ApiError::Conflict("the invitation code is unknown, used or expired".into())));
            };
            let clinician: String = row.get(0);
            tx.execute(
                "UPDATE invitations SET used_by = $1, used_at = $2 WHERE code_hash = $3 AND used_by IS NULL",
                &[&patient.id, &now, &code_hash],
            )?;
            tx.execute(
                "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES ($1, $2, 'patient', $3, $4, $5)",
                &[&patient.id, &patient.username, &patient.pw_hash, &patient.pseudonym, &now],
            )?;
            tx.commit()?;
            Ok(Ok(clinician))
        });
        match out {
            Err(ApiError::Conflict(_)) => Err(ApiError::Conflict("that username is taken".into())),
            Err(e) => Err(e),
            Ok(r) => r,
        }
    }

    pub(crate) fn add_grant(&self, g: &Grant) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO grants (patient, clinician_id, record_type, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&g.patient, &g.clinician_id, &g.record_type, &crate::now()],
            )
        })
        .map(|_| ())
    }

    pub(crate) fn revoke_grant(&self, g: &Grant) -> ApiResult<bool> {
        Ok(self.with(|c| {
            c.execute(
                "DELETE FROM grants WHERE patient = $1 AND clinician_id = $2 AND record_type = $3",
                &[&g.patient, &g.clinician_id, &g.record_type],
            )
        })? > 0)
    }

    pub(crate) fn has_grant(
        &self,
        patient: &str,
        clinician_id: &str,
        record_type: &str,
    ) -> ApiResult<bool> {
        Ok(self
            .with(|c| {
                c.query_opt(
                    "SELECT 1 FROM grants WHERE patient = $1 AND clinician_id = $2 AND record_type = $3",
                    &[&patient, &clinician_id, &record_type],
                )
            })?
            .is_some())
    }

    pub(crate) fn grants(
        &self,
        patient: Option<&str>,
        clinician_id: Option<&str>,
    ) -> ApiResult<Vec<Grant>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT patient, clinician_id, record_type FROM grants
                 WHERE ($1::text IS NULL OR patient = $1) AND ($2::text IS NULL OR clinician_id = $2)
                 ORDER BY patient, clinician_id, record_type",
                &[&patient, &clinician_id],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| Grant {
                patient: r.get(0),
                clinician_id: r.get(1),
                record_type: r.get(2),
            })
            .collect())
    }

    pub(crate) fn complete(&self, id: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE records SET state = 'complete', completed_at = $1 WHERE id = $2",
                &[&crate::now(), &id],
            )
        })
        .map(|_| ())
    }

    pub(crate) fn record_by(&self, column: &str, value: &str) -> ApiResult<Option<Record>> {
        let sql = format!("SELECT {RECORD_COLS} FROM records WHERE {column} = $1");
        Ok(self
            .with(|c| c.query_opt(sql.as_str(), &[&value]))?
            .as_ref()
            .map(record))
    }

    pub(crate) fn records(
        &self,
        patient: &str,
        record_type: Option<&str>,
    ) -> ApiResult<Vec<Record>> {
        let sql = format!(
            "SELECT {RECORD_COLS} FROM records WHERE patient = $1 AND ($2::text IS NULL OR record_type = $2)
             AND state = 'complete' ORDER BY created_at, id"
        );
        Ok(self
            .with(|c| c.query(sql.as_str(), &[&patient, &record_type]))?
            .iter()
            .map(record)
            .collect())
    }

    pub(crate) fn pending_records(&self) -> ApiResult<Vec<Record>> {
        let sql = format!("SELECT {RECORD_COLS} FROM records WHERE state = 'pending'");
        Ok(self
            .with(|c| c.query(sql.as_str(), &[]))?
            .iter()
            .map(record)
            .collect())
    }

    pub(crate) fn delete_pending(&self, id: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM records WHERE id = $1 AND state = 'pending'",
                &[&id],
            )
        })
        .map(|_| ())
    }

    /// Appends an audit row (and inserts `pending`, when given, in the same
    /// transaction). The table lock keeps one chain across replicas.
    pub(crate) fn audit_append(
        &self,
        e: &AuditEvent,
        ts: i64,
        pending: Option<&Record>,
    ) -> ApiResult<()> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            if let Some(r) = pending {
                tx.execute(
                    &format!("INSERT INTO records ({RECORD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)"),
                    &[
                        &r.id,
                        &r.patient,
                        &r.record_type,
                        &r.object_key,
                        &r.content_type,
                        &i64::try_from(r.size).unwrap_or(i64::MAX),
                        &r.created_at,
                        &r.expires_at,
                    ],
                )?;
            }
            tx.batch_execute("LOCK TABLE audit IN EXCLUSIVE MODE")?;
            let last = tx.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
            let (seq, prev) = match last {
                Some(r) => (r.get::<_, i64>(0).saturating_add(1), r.get::<_, String>(1)),
                None => (1, crate::audit::GENESIS.to_owned()),
            };
            let hash = crate::audit::row_hash(seq, ts, e, &prev);
            tx.execute(
                "INSERT INTO audit (seq, ts, actor, role, action, patient, outcome, detail, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[&seq, &ts, &e.actor, &e.role, &e.action, &e.patient, &e.outcome, &e.detail, &prev, &hash],
            )?;
            tx.commit()
        })
    }

    pub(crate) fn audit_query(&self, q: &AuditQuery) -> ApiResult<Vec<AuditRow>> {
        let limit = i64::from(q.limit.unwrap_or(500).min(10_000));
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit
             WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR patient = $2)
               AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR outcome = $4)
             ORDER BY seq DESC LIMIT $5"
        );
        Ok(self
            .with(|c| {
                c.query(
                    sql.as_str(),
                    &[&q.actor, &q.patient, &q.action, &q.outcome, &limit],
                )
            })?
            .iter()
            .map(audit_row)
            .collect())
    }

    pub(crate) fn audit_rows(&self) -> ApiResult<Vec<AuditRow>> {
        let sql = format!("SELECT {AUDIT_COLS} FROM audit ORDER BY seq");
        Ok(self
            .with(|c| c.query(sql.as_str(), &[]))?
            .iter()
            .map(audit_row)
            .collect())
    }
}
