//! The data layer: users, invitations, grants, the record index, studies, trainings,
//! vital alerts and the audit log — metadata only, never record content, never keys.
//!
//! One set of queries and one set of versioned migrations (`relay-server/migrations`)
//! serve both backends: SQLite by default (one file in the data directory, WAL mode)
//! and PostgreSQL when several relay replicas share the work. Every call is async and
//! pooled ([`conn`]); nothing blocks an async worker thread.

mod chain;
mod conn;

use std::path::Path;

use serde::Serialize;

use self::chain::ChainQueue;
pub(crate) use self::conn::{ChainJob, Conn, Val};
use self::conn::{Pool, SqlitePool};
use crate::error::{ApiError, ApiResult};
use std::sync::Arc;

/// One schema change: applied once, in order, inside one transaction with its record in
/// `schema_migrations`.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every schema change, oldest first. Written in SQLite's dialect; PostgreSQL reads
/// `INTEGER` as `BIGINT` ([`dialect`]). Never edit one that has shipped: add another.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "pending-records-index",
        sql: include_str!("../migrations/0002_pending_records_index.sql"),
    },
    Migration {
        version: 3,
        name: "study-lanes",
        sql: include_str!("../migrations/0003_study_lanes.sql"),
    },
    Migration {
        version: 4,
        name: "end-to-end-keys",
        sql: include_str!("../migrations/0004_end_to_end_keys.sql"),
    },
    Migration {
        version: 5,
        name: "audit-chain-v2",
        sql: include_str!("../migrations/0005_audit_chain_v2.sql"),
    },
    Migration {
        version: 6,
        name: "replica-queue",
        sql: include_str!("../migrations/0006_replica_queue.sql"),
    },
    Migration {
        version: 7,
        name: "submission-digest",
        sql: include_str!("../migrations/0007_submission_digest.sql"),
    },
];

/// The latest schema version this relay knows.
pub const SCHEMA_VERSION: i64 = 7;

/// A migration's text for the backend it runs on.
fn dialect(sql: &str, postgres: bool) -> String {
    if postgres {
        sql.replace("INTEGER", "BIGINT")
    } else {
        sql.to_owned()
    }
}

/// A user row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Clinician {
    /// User id (what a grant names).
    pub id: String,
    /// Login name.
    pub username: String,
}

/// A record index row: where the ciphertext is and what it is bound to. Never content.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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
    pool: Pool,
    audit: Arc<ChainQueue>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.pool.is_postgres() {
            "Db(postgres)"
        } else {
            "Db(sqlite)"
        })
    }
}

/// The audit chain's head: the last row's `seq` and `hash`.
const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";

const USER_COLS: &str = "id, username, role, pw_hash, pseudonym";
const RECORD_COLS: &str =
    "id, patient, record_type, object_key, content_type, size, state, created_at, expires_at";

fn user_from(r: &[Val]) -> User {
    let get = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
    User {
        id: get(0).text(),
        username: get(1).text(),
        role: get(2).text(),
        pw_hash: get(3).opt_text(),
        pseudonym: get(4).opt_text(),
    }
}

fn record_from(r: &[Val]) -> Record {
    let get = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
    Record {
        id: get(0).text(),
        patient: get(1).text(),
        record_type: get(2).text(),
        object_key: get(3).text(),
        content_type: get(4).text(),
        size: u64::try_from(get(5).int()).unwrap_or(0),
        state: get(6).text(),
        created_at: get(7).int(),
        expires_at: get(8).int(),
    }
}

/// The statement that inserts a pending record ([`pending_args`] binds it).
pub(crate) const INSERT_PENDING: &str = "INSERT INTO records (id, patient, record_type, object_key, content_type, size, state, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)";

/// The arguments of [`INSERT_PENDING`] for `r`.
pub(crate) fn pending_args(r: &Record) -> [Val; 8] {
    [
        r.id.as_str().into(),
        r.patient.as_str().into(),
        r.record_type.as_str().into(),
        r.object_key.as_str().into(),
        r.content_type.as_str().into(),
        i64::try_from(r.size).unwrap_or(i64::MAX).into(),
        r.created_at.into(),
        r.expires_at.into(),
    ]
}

impl Db {
    /// Opens (and creates, private: it holds password hashes) the SQLite database file
    /// and brings its schema up to date.
    pub async fn open(path: &Path) -> ApiResult<Self> {
        let path = path.to_owned();
        let pool = tokio::task::spawn_blocking(move || SqlitePool::open(&path))
            .await
            .map_err(|e| ApiError::Internal(format!("database task: {e}")))??;
        let db = Self::with_pool(Pool::Sqlite(pool));
        db.migrate().await?;
        Ok(db)
    }

    /// Connects to PostgreSQL (`postgres://user@127.0.0.1:5432/db`) and brings its
    /// schema up to date (replicas starting at once take turns).
    pub async fn connect_postgres(url: &str) -> ApiResult<Self> {
        let db = Self::with_pool(Pool::postgres(url)?);
        db.migrate().await?;
        Ok(db)
    }

    fn with_pool(pool: Pool) -> Self {
        Self {
            audit: Arc::new(ChainQueue::start(pool.clone(), AUDIT_HEAD)),
            pool,
        }
    }

    /// Appends to the audit chain: `job` runs in a transaction holding the audit lock,
    /// its link made from the chain's head (the last row's `seq` and `hash`), possibly
    /// committed together with other appends waiting at the same time.
    pub(crate) async fn append_audit(&self, job: ChainJob) -> ApiResult<()> {
        self.audit.append(job).await
    }

    /// Applies the migrations this database lacks, each in its own transaction with
    /// its record. A database made by a release before versioned migrations (tables,
    /// no `schema_migrations`) is adopted by migration 1, whose statements are all
    /// `IF NOT EXISTS`. A database newer than this relay is refused.
    async fn migrate(&self) -> ApiResult<()> {
        let mut c = self.conn().await?;
        let pg = c.is_postgres();
        c.begin().await?;
        c.lock_schema().await?;
        c.batch(&dialect(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            pg,
        ))
        .await?;
        let current = c
            .query("SELECT MAX(version) FROM schema_migrations", &[], 1)
            .await?
            .first()
            .and_then(|r| r.first())
            .map_or(0, Val::int);
        if current > SCHEMA_VERSION {
            c.rollback().await?;
            return Err(ApiError::Internal(format!(
                "the database schema is version {current}, newer than this relay's {SCHEMA_VERSION}: run a newer release"
            )));
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            c.batch(&dialect(m.sql, pg)).await?;
            c.exec(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                &[m.version.into(), m.name.into(), crate::now().into()],
            )
            .await?;
            tracing::info!(
                version = m.version,
                name = m.name,
                "schema migration applied"
            );
        }
        c.commit().await
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> ApiResult<i64> {
        self.count("SELECT MAX(version) FROM schema_migrations", &[])
            .await
    }

    /// A pooled connection, for a transaction of several dependent statements.
    pub(crate) async fn conn(&self) -> ApiResult<Conn> {
        self.pool.get().await
    }

    /// Runs one statement (placeholders `?1`, `?2`, …); returns the number of rows
    /// changed. A constraint violation is a `Conflict`.
    pub(crate) async fn exec(&self, sql: &str, args: &[Val]) -> ApiResult<usize> {
        let n = self.conn().await?.exec(sql, args).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Runs statements in one transaction; returns each one's changed-row count. When
    /// the first statement changes no row the transaction is rolled back (a guarded
    /// update lost a race) and the counts are all 0.
    pub(crate) async fn transaction(&self, stmts: &[(&str, &[Val])]) -> ApiResult<Vec<usize>> {
        let owned = stmts
            .iter()
            .map(|(sql, args)| ((*sql).to_owned(), args.to_vec()))
            .collect();
        Ok(self
            .conn()
            .await?
            .exec_all(owned)
            .await?
            .into_iter()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .collect())
    }

    /// Runs a query (placeholders `?1`, …) returning `columns` values per row.
    pub(crate) async fn query(
        &self,
        sql: &str,
        args: &[Val],
        columns: usize,
    ) -> ApiResult<Vec<Vec<Val>>> {
        self.conn().await?.query(sql, args, columns).await
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> bool {
        self.query("SELECT 1", &[], 1).await.is_ok()
    }

    /// Counts rows of a `SELECT COUNT(*) …` query.
    async fn count(&self, sql: &str, args: &[Val]) -> ApiResult<i64> {
        Ok(self
            .query(sql, args, 1)
            .await?
            .first()
            .and_then(|r| r.first())
            .map_or(0, Val::int))
    }

    /// Creates a user; fails with `Conflict` when the name is taken.
    pub async fn create_user(&self, user: &User) -> ApiResult<()> {
        let res = self
            .exec(
                "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    user.id.as_str().into(),
                    user.username.as_str().into(),
                    user.role.as_str().into(),
                    user.pw_hash.clone().into(),
                    user.pseudonym.clone().into(),
                    crate::now().into(),
                ],
            )
            .await;
        match res {
            Err(ApiError::Conflict(_)) => Err(ApiError::Conflict("that username is taken".into())),
            other => other.map(|_| ()),
        }
    }

    async fn user_where(&self, column: &str, value: &str) -> ApiResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE {column} = ?1");
        Ok(self
            .query(&sql, &[value.into()], 5)
            .await?
            .first()
            .map(|r| user_from(r)))
    }

    /// Looks a user up by name.
    pub async fn user_by_name(&self, username: &str) -> ApiResult<Option<User>> {
        self.user_where("username", username).await
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: &str) -> ApiResult<Option<User>> {
        self.user_where("id", id).await
    }

    /// Every clinician, by username.
    pub async fn clinicians(&self) -> ApiResult<Vec<Clinician>> {
        let rows = self
            .query(
                "SELECT id, username FROM users WHERE role = 'clinician' ORDER BY username LIMIT 1000",
                &[],
                2,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Clinician {
                id: r.first().map(Val::text).unwrap_or_default(),
                username: r.get(1).map(Val::text).unwrap_or_default(),
            })
            .collect())
    }

    /// Stores an invitation (only the code's hash).
    pub async fn create_invitation(
        &self,
        code_hash: &str,
        clinician_id: &str,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.exec(
            "INSERT INTO invitations (code_hash, clinician_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            &[code_hash.into(), clinician_id.into(), crate::now().into(), expires_at.into()],
        )
        .await
        .map(|_| ())
    }

    /// Enrolls a patient with a one-time code, atomically: the code is marked used
    /// and the user created in one transaction. Returns the inviting clinician.
    pub async fn redeem_invitation(&self, code_hash: &str, patient: &User) -> ApiResult<String> {
        let now = crate::now();
        let mut c = self.conn().await?;
        c.begin().await?;
        let claimed = c
            .query(
                "UPDATE invitations SET used_by = ?1, used_at = ?2 WHERE code_hash = ?3 AND used_by IS NULL AND expires_at > ?2 RETURNING clinician_id",
                &[patient.id.as_str().into(), now.into(), code_hash.into()],
                1,
            )
            .await?;
        let Some(clinician) = claimed.first().and_then(|r| r.first()).map(Val::text) else {
            c.rollback().await?;
            return Err(ApiError::Conflict(
                "the invitation code is unknown, used or expired".into(),
            ));
        };
        let res = c
            .exec(
                "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES (?1, ?2, 'patient', ?3, ?4, ?5)",
                &[
                    patient.id.as_str().into(),
                    patient.username.as_str().into(),
                    patient.pw_hash.clone().into(),
                    patient.pseudonym.clone().into(),
                    now.into(),
                ],
            )
            .await;
        match res {
            Ok(_) => {}
            Err(ApiError::Conflict(_)) => {
                return Err(ApiError::Conflict("that username is taken".into()))
            }
            Err(e) => return Err(e),
        }
        c.commit().await?;
        Ok(clinician)
    }

    /// Adds a grant (idempotent).
    pub async fn add_grant(&self, g: &Grant) -> ApiResult<()> {
        self.exec(
            "INSERT INTO grants (patient, clinician_id, record_type, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            &[
                g.patient.as_str().into(),
                g.clinician_id.as_str().into(),
                g.record_type.as_str().into(),
                crate::now().into(),
            ],
        )
        .await
        .map(|_| ())
    }

    /// Removes a grant, and with it the clinician's key shares of the patient's records
    /// of that type, in one transaction; returns whether a grant existed.
    pub async fn revoke_grant(&self, g: &Grant) -> ApiResult<bool> {
        let args: &[Val] = &[
            g.patient.as_str().into(),
            g.clinician_id.as_str().into(),
            g.record_type.as_str().into(),
        ];
        let n = self
            .transaction(&[
                (
                    "DELETE FROM grants WHERE patient = ?1 AND clinician_id = ?2 AND record_type = ?3",
                    args,
                ),
                (
                    "DELETE FROM record_key_shares WHERE reader = ?2 AND record_id IN (SELECT id FROM records WHERE patient = ?1 AND record_type = ?3)",
                    args,
                ),
            ])
            .await?;
        Ok(n.first().is_some_and(|n| *n > 0))
    }

    /// A patient's account, by pseudonym.
    pub async fn user_by_pseudonym(&self, pseudonym: &str) -> ApiResult<Option<User>> {
        self.user_where("pseudonym", pseudonym).await
    }

    /// An account's published public key: (DER SubjectPublicKeyInfo in base64,
    /// fingerprint).
    pub async fn public_key(&self, user_id: &str) -> ApiResult<Option<(String, String)>> {
        Ok(self
            .query(
                "SELECT public_key, fingerprint FROM user_keys WHERE user_id = ?1",
                &[user_id.into()],
                2,
            )
            .await?
            .first()
            .map(|r| {
                (
                    r.first().map(Val::text).unwrap_or_default(),
                    r.get(1).map(Val::text).unwrap_or_default(),
                )
            }))
    }

    /// Publishes an account's public key. A key already there is replaced only when
    /// `replace` (the account says so); returns whether the key was stored.
    pub async fn set_public_key(
        &self,
        user_id: &str,
        public_key: &str,
        fingerprint: &str,
        replace: bool,
    ) -> ApiResult<bool> {
        let sql = if replace {
            "INSERT INTO user_keys (user_id, public_key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO UPDATE SET public_key = excluded.public_key, fingerprint = excluded.fingerprint, created_at = excluded.created_at"
        } else {
            "INSERT INTO user_keys (user_id, public_key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO NOTHING"
        };
        Ok(self
            .exec(
                sql,
                &[
                    user_id.into(),
                    public_key.into(),
                    fingerprint.into(),
                    crate::now().into(),
                ],
            )
            .await?
            > 0)
    }

    /// An account's passphrase-wrapped private key (base64, opaque to the relay).
    pub async fn key_backup(&self, user_id: &str) -> ApiResult<Option<String>> {
        Ok(self
            .query(
                "SELECT backup FROM key_backups WHERE user_id = ?1",
                &[user_id.into()],
                1,
            )
            .await?
            .first()
            .and_then(|r| r.first())
            .map(Val::text))
    }

    /// Stores (or replaces) an account's passphrase-wrapped private key.
    pub async fn set_key_backup(&self, user_id: &str, backup: &str) -> ApiResult<()> {
        self.exec(
            "INSERT INTO key_backups (user_id, backup, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET backup = excluded.backup, updated_at = excluded.updated_at",
            &[user_id.into(), backup.into(), crate::now().into()],
        )
        .await
        .map(|_| ())
    }

    /// Stores (or replaces) `reader`'s key share of a record (JSON, opaque).
    pub async fn set_key_share(&self, record_id: &str, reader: &str, share: &str) -> ApiResult<()> {
        self.exec(
            "INSERT INTO record_key_shares (record_id, reader, share, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (record_id, reader) DO UPDATE SET share = excluded.share, created_at = excluded.created_at",
            &[record_id.into(), reader.into(), share.into(), crate::now().into()],
        )
        .await
        .map(|_| ())
    }

    /// `reader`'s key share of a record, if the patient wrote one.
    pub async fn key_share(&self, record_id: &str, reader: &str) -> ApiResult<Option<String>> {
        Ok(self
            .query(
                "SELECT share FROM record_key_shares WHERE record_id = ?1 AND reader = ?2",
                &[record_id.into(), reader.into()],
                1,
            )
            .await?
            .first()
            .and_then(|r| r.first())
            .map(Val::text))
    }

    /// Whether `clinician_id` may read `record_type` of `patient`.
    pub async fn has_grant(
        &self,
        patient: &str,
        clinician_id: &str,
        record_type: &str,
    ) -> ApiResult<bool> {
        Ok(!self
            .query(
                "SELECT 1 FROM grants WHERE patient = ?1 AND clinician_id = ?2 AND record_type = ?3",
                &[patient.into(), clinician_id.into(), record_type.into()],
                1,
            )
            .await?
            .is_empty())
    }

    /// Grants given by a patient, or held by a clinician.
    pub async fn grants(
        &self,
        patient: Option<&str>,
        clinician_id: Option<&str>,
    ) -> ApiResult<Vec<Grant>> {
        let rows = self
            .query(
                "SELECT patient, clinician_id, record_type FROM grants
                 WHERE (CAST(?1 AS TEXT) IS NULL OR patient = ?1) AND (CAST(?2 AS TEXT) IS NULL OR clinician_id = ?2)
                 ORDER BY patient, clinician_id, record_type",
                &[patient.into(), clinician_id.into()],
                3,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Grant {
                patient: r.first().map(Val::text).unwrap_or_default(),
                clinician_id: r.get(1).map(Val::text).unwrap_or_default(),
                record_type: r.get(2).map(Val::text).unwrap_or_default(),
            })
            .collect())
    }

    /// Marks a record complete once its object is in place.
    pub async fn complete(&self, id: &str) -> ApiResult<()> {
        self.exec(
            "UPDATE records SET state = 'complete', completed_at = ?1 WHERE id = ?2",
            &[crate::now().into(), id.into()],
        )
        .await
        .map(|_| ())
    }

    async fn record_where(&self, column: &str, value: &str) -> ApiResult<Option<Record>> {
        let sql = format!("SELECT {RECORD_COLS} FROM records WHERE {column} = ?1");
        Ok(self
            .query(&sql, &[value.into()], 9)
            .await?
            .first()
            .map(|r| record_from(r)))
    }

    /// A record by id (any state).
    pub async fn record(&self, id: &str) -> ApiResult<Option<Record>> {
        self.record_where("id", id).await
    }

    /// A record by object key (any state).
    pub async fn record_by_key(&self, key: &str) -> ApiResult<Option<Record>> {
        self.record_where("object_key", key).await
    }

    /// Complete records of a patient, optionally of one type.
    pub async fn records(
        &self,
        patient: &str,
        record_type: Option<&str>,
    ) -> ApiResult<Vec<Record>> {
        let sql = format!(
            "SELECT {RECORD_COLS} FROM records WHERE patient = ?1 AND (CAST(?2 AS TEXT) IS NULL OR record_type = ?2)
             AND state = 'complete' ORDER BY created_at, id"
        );
        Ok(self
            .query(&sql, &[patient.into(), record_type.into()], 9)
            .await?
            .iter()
            .map(|r| record_from(r))
            .collect())
    }

    /// Pending records (for crash recovery).
    pub async fn pending_records(&self) -> ApiResult<Vec<Record>> {
        let sql = format!("SELECT {RECORD_COLS} FROM records WHERE state = 'pending'");
        Ok(self
            .query(&sql, &[], 9)
            .await?
            .iter()
            .map(|r| record_from(r))
            .collect())
    }

    /// Pending records of `patient` whose upload URL is still valid at `now`, counted up
    /// to `cap` (the per-patient limit): the check costs at most `cap` index entries
    /// however many a patient holds.
    pub async fn pending_count(&self, patient: &str, now: i64, cap: i64) -> ApiResult<i64> {
        self.count(
            "SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE patient = ?1 AND state = 'pending' AND expires_at > ?2 LIMIT ?3) AS capped",
            &[patient.into(), Val::Int(now), Val::Int(cap)],
        )
        .await
    }

    /// Unused invitations of `clinician_id` still valid at `now`, counted up to `cap`.
    pub async fn open_invitations(&self, clinician_id: &str, now: i64, cap: i64) -> ApiResult<i64> {
        self.count(
            "SELECT COUNT(*) FROM (SELECT 1 FROM invitations WHERE clinician_id = ?1 AND used_by IS NULL AND expires_at > ?2 LIMIT ?3) AS capped",
            &[clinician_id.into(), Val::Int(now), Val::Int(cap)],
        )
        .await
    }

    /// Whether an invitation code (by hash) is unused and valid at `now`.
    pub async fn invitation_open(&self, code_hash: &str, now: i64) -> ApiResult<bool> {
        Ok(self
            .count(
                "SELECT COUNT(*) FROM invitations WHERE code_hash = ?1 AND used_by IS NULL AND expires_at > ?2",
                &[code_hash.into(), Val::Int(now)],
            )
            .await?
            > 0)
    }

    /// Deletes a pending record whose upload never completed.
    pub async fn delete_pending(&self, id: &str) -> ApiResult<()> {
        self.exec(
            "DELETE FROM records WHERE id = ?1 AND state = 'pending'",
            &[id.into()],
        )
        .await
        .map(|_| ())
    }
}
