//! The two backends behind one async interface: pooled connections that run the same
//! SQL text (SQLite's dialect with `?1`-style placeholders; rewritten to `$1` for
//! PostgreSQL) and bind and return the same [`Val`]s.
//!
//! - PostgreSQL: `tokio-postgres` connections in a `deadpool` pool, statements
//!   prepared once per connection and cached. Fully async.
//! - SQLite: a small pool of `rusqlite` connections; every statement runs on tokio's
//!   blocking pool (`spawn_blocking`), so an async worker thread never waits on the
//!   file.
//!
//! SQLite has one writer at a time. Rather than let writers collide on the file lock and
//! sleep in SQLite's busy handler, the pool queues them in order on an async lock held
//! from `BEGIN` to `COMMIT` (and for a lone write statement): the relay is the only
//! process that opens its SQLite file.
//!
//! A [`Conn`] dropped inside a transaction (an error returned early, a request
//! cancelled) is closed instead of returned to its pool: closing rolls the
//! transaction back on both backends, so no half-done transaction is ever reused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use rusqlite::Connection;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::error::{ApiError, ApiResult};

/// Connections a SQLite database keeps open (readers run concurrently in WAL mode;
/// writers queue on SQLite's own lock with a busy timeout).
const SQLITE_CONNECTIONS: usize = 8;
/// Connections one relay keeps to PostgreSQL.
const PG_CONNECTIONS: usize = 16;
/// How long a request waits for a free connection before it is refused as
/// unavailable.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How long SQLite waits for another connection's write lock.
const SQLITE_BUSY: Duration = Duration::from_secs(5);

/// A value bound to, or read from, a SQL statement on either backend.
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
    /// The integer, or 0 for anything else.
    pub(crate) fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            _ => 0,
        }
    }

    /// The text, or empty for anything else.
    pub(crate) fn text(&self) -> String {
        match self {
            Val::Text(t) => t.clone(),
            _ => String::new(),
        }
    }

    /// The text, or `None` for anything else.
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

impl From<Option<&str>> for Val {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Val::Null, |t| Val::Text(t.to_owned()))
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

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Val::Int(i) => i.to_sql(ty, out),
            Val::Text(t) => t.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME
        )
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Columns of a hash chain's head row, as [`Conn::chain_batch`] reads it.
pub(crate) const HEAD_COLUMNS: usize = 2;

/// Given a chain's head row (`None` for an empty chain): the statements that append
/// to it, and the new head.
pub(crate) type Link =
    dyn Fn(Option<&[Val]>) -> (Vec<(&'static str, Vec<Val>)>, Vec<Val>) + Send + Sync;

/// One append to a hash chain: statements to run first (in the same transaction),
/// then the link made from the head.
#[derive(Clone)]
pub(crate) struct ChainJob {
    /// Run before the link, in the same transaction.
    pub(crate) before: Vec<(&'static str, Vec<Val>)>,
    /// Makes the appended rows from the head.
    pub(crate) link: Arc<Link>,
}

/// `?1`-style placeholders to PostgreSQL's `$1` (no statement here has a `?` inside
/// a string literal).
fn pg_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

fn pg_err(e: &tokio_postgres::Error) -> ApiError {
    // Class 23: integrity constraint violations (unique, foreign key, check).
    if e.code().is_some_and(|c| c.code().starts_with("23")) {
        return ApiError::Conflict("that would duplicate an existing entry".into());
    }
    ApiError::Internal(format!("postgres: {e}"))
}

fn sqlite_err(e: rusqlite::Error) -> ApiError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            ApiError::Conflict("that would duplicate an existing entry".into())
        }
        _ => ApiError::Internal(format!("sqlite: {e}")),
    }
}

fn pg_row(r: &tokio_postgres::Row, n: usize) -> Vec<Val> {
    (0..n.min(r.len()))
        .map(|i| {
            match r.columns().get(i).map(|c| c.type_().clone()) {
                Some(Type::INT8) => r.try_get::<_, Option<i64>>(i).ok().flatten().map(Val::Int),
                Some(Type::INT4) => r
                    .try_get::<_, Option<i32>>(i)
                    .ok()
                    .flatten()
                    .map(|v| Val::Int(v.into())),
                Some(Type::INT2) => r
                    .try_get::<_, Option<i16>>(i)
                    .ok()
                    .flatten()
                    .map(|v| Val::Int(v.into())),
                _ => r
                    .try_get::<_, Option<String>>(i)
                    .ok()
                    .flatten()
                    .map(Val::Text),
            }
            .unwrap_or(Val::Null)
        })
        .collect()
}

/// Runs one statement on SQLite (a connection, transaction or savepoint).
fn sqlite_exec(c: &Connection, sql: &str, args: &[Val]) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(args.iter()))
}

/// Statement parameters for PostgreSQL.
fn pg_params(args: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
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

/// The SQLite connection pool.
pub(crate) struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl SqlitePool {
    /// Opens (and creates, private) the database file.
    pub(crate) fn open(path: &Path) -> ApiResult<Arc<Self>> {
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| ApiError::Internal(format!("database file: {e}")))?;
        }
        let first = Self::connect(path)?;
        // SQLite gives the WAL files the database file's mode; make sure of all three.
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            crate::private_file(Path::new(&p))?;
        }
        Ok(Arc::new(Self {
            path: path.to_owned(),
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(SQLITE_CONNECTIONS)),
            writer: Arc::new(tokio::sync::Mutex::new(())),
        }))
    }

    fn connect(path: &Path) -> ApiResult<Connection> {
        let conn = Connection::open(path).map_err(sqlite_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite_err)?;
        conn.busy_timeout(SQLITE_BUSY).map_err(sqlite_err)?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

/// Either backend's pool.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(Arc<SqlitePool>),
    Pg(deadpool_postgres::Pool),
}

impl Pool {
    /// A PostgreSQL pool for `url` (`postgres://user@127.0.0.1:5432/db`); connects
    /// lazily.
    pub(crate) fn postgres(url: &str) -> ApiResult<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| ApiError::Internal(format!("database URL: {e}")))?;
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(PG_CONNECTIONS)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| ApiError::Internal(format!("postgres pool: {e}")))?;
        Ok(Self::Pg(pool))
    }

    /// Whether this is PostgreSQL.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Pool::Pg(_))
    }

    /// A connection from the pool.
    pub(crate) async fn get(&self) -> ApiResult<Conn> {
        let inner = match self {
            Pool::Pg(pool) => Inner::Pg(
                pool.get()
                    .await
                    .map_err(|e| ApiError::Internal(format!("postgres pool: {e}")))?,
            ),
            Pool::Sqlite(pool) => {
                let permit = tokio::time::timeout(POOL_WAIT, pool.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| ApiError::Internal("sqlite pool: timed out".into()))?
                    .map_err(|_| ApiError::Internal("sqlite pool closed".into()))?;
                let idle = pool.idle.lock().ok().and_then(|mut v| v.pop());
                let conn = match idle {
                    Some(c) => c,
                    None => {
                        let path = pool.path.clone();
                        tokio::task::spawn_blocking(move || SqlitePool::connect(&path))
                            .await
                            .map_err(join_err)??
                    }
                };
                Inner::Sqlite {
                    conn: Arc::new(Mutex::new(conn)),
                    pool: pool.clone(),
                    _permit: permit,
                }
            }
        };
        Ok(Conn {
            inner: Some(inner),
            in_tx: false,
            writing: None,
        })
    }
}

fn join_err(e: tokio::task::JoinError) -> ApiError {
    ApiError::Internal(format!("database task: {e}"))
}

enum Inner {
    Sqlite {
        conn: Arc<Mutex<Connection>>,
        pool: Arc<SqlitePool>,
        _permit: OwnedSemaphorePermit,
    },
    Pg(deadpool_postgres::Object),
}

/// One pooled connection; returned to its pool on drop (closed instead when dropped
/// inside a transaction).
pub(crate) struct Conn {
    inner: Option<Inner>,
    in_tx: bool,
    /// SQLite: this connection's turn as the writer, from `BEGIN` to its end.
    writing: Option<OwnedMutexGuard<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        match self.inner.take() {
            Some(Inner::Pg(obj)) if self.in_tx => {
                // Out of the pool and closed: the server rolls the transaction back.
                drop(deadpool_postgres::Object::take(obj));
            }
            Some(Inner::Sqlite { conn, pool, .. }) => {
                let in_tx = self.in_tx;
                let writing = self.writing.take();
                let Ok(conn) = Arc::try_unwrap(conn) else {
                    // A cancelled statement still runs on the blocking pool; the
                    // connection closes (rolling back) when it finishes.
                    return;
                };
                let Ok(conn) = conn.into_inner() else { return };
                if in_tx {
                    // Closing rolls back; off the async thread.
                    // The writer's turn ends once the connection is closed.
                    if let Ok(h) = tokio::runtime::Handle::try_current() {
                        h.spawn_blocking(move || {
                            drop(conn);
                            drop(writing);
                        });
                    }
                } else {
                    pool.put_back(conn);
                }
            }
            _ => {}
        }
    }
}

impl Conn {
    fn inner(&self) -> ApiResult<&Inner> {
        self.inner
            .as_ref()
            .ok_or_else(|| ApiError::Internal("database connection closed".into()))
    }

    /// Whether this connection is to PostgreSQL.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.inner, Some(Inner::Pg(_)))
    }

    async fn sqlite<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| ApiError::Internal("sqlite connection poisoned".into()))?;
            f(&mut c).map_err(sqlite_err)
        })
        .await
        .map_err(join_err)?
    }

    /// Runs one statement; returns the number of rows changed. A constraint violation
    /// is a `Conflict`.
    pub(crate) async fn exec(&mut self, sql: &str, args: &[Val]) -> ApiResult<u64> {
        match self.inner()? {
            Inner::Pg(c) => {
                let st = c
                    .prepare_cached(&pg_sql(sql))
                    .await
                    .map_err(|e| pg_err(&e))?;
                c.execute(&st, &pg_params(args))
                    .await
                    .map_err(|e| pg_err(&e))
            }
            Inner::Sqlite { conn, pool, .. } => {
                // A lone write waits for its turn as the writer; inside a
                // transaction the connection already holds it.
                let _turn = match self.writing {
                    Some(_) => None,
                    None => Some(pool.writer.clone().lock_owned().await),
                };
                let (sql, args) = (sql.to_owned(), args.to_vec());
                Self::sqlite(conn, move |c| {
                    let n = sqlite_exec(c, &sql, &args)?;
                    Ok(u64::try_from(n).unwrap_or(u64::MAX))
                })
                .await
            }
        }
    }

    /// Runs a query returning the first `columns` values of every row.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        args: &[Val],
        columns: usize,
    ) -> ApiResult<Vec<Vec<Val>>> {
        match self.inner()? {
            Inner::Pg(c) => {
                let st = c
                    .prepare_cached(&pg_sql(sql))
                    .await
                    .map_err(|e| pg_err(&e))?;
                let rows = c
                    .query(&st, &pg_params(args))
                    .await
                    .map_err(|e| pg_err(&e))?;
                Ok(rows.iter().map(|r| pg_row(r, columns)).collect())
            }
            Inner::Sqlite { conn, .. } => {
                let (sql, args) = (sql.to_owned(), args.to_vec());
                Self::sqlite(conn, move |c| {
                    let mut st = c.prepare_cached(&sql)?;
                    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        sqlite_row(r, columns)
                    })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                })
                .await
            }
        }
    }

    /// Runs several statements without parameters (migrations).
    pub(crate) async fn batch(&mut self, sql: &str) -> ApiResult<()> {
        match self.inner()? {
            Inner::Pg(c) => c.batch_execute(sql).await.map_err(|e| pg_err(&e)),
            Inner::Sqlite { conn, .. } => {
                let sql = sql.to_owned();
                Self::sqlite(conn, move |c| c.execute_batch(&sql)).await
            }
        }
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction that reads before it writes cannot deadlock with
    /// another writer.
    pub(crate) async fn begin(&mut self) -> ApiResult<()> {
        if let Inner::Sqlite { pool, .. } = self.inner()? {
            let writer = pool.writer.clone();
            self.writing = Some(writer.lock_owned().await);
            self.in_tx = true;
            return self.batch("BEGIN IMMEDIATE").await;
        }
        self.in_tx = true;
        self.batch("BEGIN").await
    }

    /// Commits the open transaction.
    pub(crate) async fn commit(&mut self) -> ApiResult<()> {
        self.batch("COMMIT").await?;
        self.in_tx = false;
        self.writing = None;
        Ok(())
    }

    /// Rolls the open transaction back.
    pub(crate) async fn rollback(&mut self) -> ApiResult<()> {
        self.batch("ROLLBACK").await?;
        self.in_tx = false;
        self.writing = None;
        Ok(())
    }

    /// Serializes schema changes across replicas starting at once (PostgreSQL); SQLite's
    /// write lock already does.
    pub(crate) async fn lock_schema(&mut self) -> ApiResult<()> {
        if self.is_postgres() {
            self.batch("SELECT pg_advisory_xact_lock(7264816)").await?;
        }
        Ok(())
    }

    /// Runs statements in one transaction; returns each one's changed-row count. When
    /// the first statement changes no row the transaction is rolled back (a guarded
    /// update lost a race) and the counts are all 0. On SQLite the whole transaction
    /// is one trip to the blocking pool.
    pub(crate) async fn exec_all(&mut self, stmts: Vec<(String, Vec<Val>)>) -> ApiResult<Vec<u64>> {
        if let Inner::Sqlite { conn, pool, .. } = self.inner()? {
            let _turn = pool.writer.clone().lock_owned().await;
            return Self::sqlite(conn, move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let mut counts = Vec::with_capacity(stmts.len());
                for (i, (sql, args)) in stmts.iter().enumerate() {
                    let n = sqlite_exec(&tx, sql, args)?;
                    if i == 0 && n == 0 {
                        return Ok(vec![0; stmts.len()]);
                    }
                    counts.push(u64::try_from(n).unwrap_or(u64::MAX));
                }
                tx.commit()?;
                Ok(counts)
            })
            .await;
        }
        self.begin().await?;
        let mut counts = Vec::with_capacity(stmts.len());
        for (i, (sql, args)) in stmts.iter().enumerate() {
            let n = self.exec(sql, args).await?;
            if i == 0 && n == 0 {
                self.rollback().await?;
                return Ok(vec![0; stmts.len()]);
            }
            counts.push(n);
        }
        self.commit().await?;
        Ok(counts)
    }

    /// Appends several jobs to a hash chain in one transaction under the audit lock:
    /// reads the chain's head once with `read`, then runs each job's statements with
    /// the head the previous job left. Returns one result per job; the outer error is
    /// the transaction's own. On SQLite each job runs in a savepoint, so a job that
    /// fails (a duplicate pending record) leaves the others and the head untouched;
    /// on PostgreSQL a failing job fails the batch (the caller then runs each job
    /// alone).
    pub(crate) async fn chain_batch(
        &mut self,
        read: &'static str,
        jobs: Vec<ChainJob>,
    ) -> ApiResult<Vec<ApiResult<()>>> {
        if let Inner::Sqlite { conn, pool, .. } = self.inner()? {
            let _turn = pool.writer.clone().lock_owned().await;
            return Self::sqlite(conn, move |c| {
                let mut tx =
                    c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let mut head = tx
                    .prepare_cached(read)?
                    .query_map([], |r| sqlite_row(r, HEAD_COLUMNS))?
                    .next()
                    .transpose()?;
                let mut results = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    let sp = tx.savepoint()?;
                    let (links, next) = (job.link)(head.as_deref());
                    let run = job
                        .before
                        .iter()
                        .chain(links.iter())
                        .try_for_each(|(sql, args)| sqlite_exec(&sp, sql, args).map(|_| ()));
                    match run {
                        Ok(()) => {
                            sp.commit()?;
                            head = Some(next);
                            results.push(Ok(()));
                        }
                        // Dropping the savepoint rolls this job back.
                        Err(e) => results.push(Err(sqlite_err(e))),
                    }
                }
                tx.commit()?;
                Ok(results)
            })
            .await;
        }
        // From here a failure leaves the connection to be closed, not reused.
        self.in_tx = true;
        let Inner::Pg(c) = self.inner()? else {
            return Err(ApiError::Internal("no database connection".into()));
        };
        let client: &tokio_postgres::Client = c;
        let read_st = c
            .prepare_cached(&pg_sql(read))
            .await
            .map_err(|e| pg_err(&e))?;
        // One round trip for the lock and the head: the two are pipelined, and the
        // server runs them in order, so the head is read under the lock.
        let (locked, head) = tokio::join!(
            client.batch_execute("BEGIN; LOCK TABLE audit IN EXCLUSIVE MODE"),
            client.query(&read_st, &[])
        );
        locked.map_err(|e| pg_err(&e))?;
        let mut head = head
            .map_err(|e| pg_err(&e))?
            .iter()
            .map(|r| pg_row(r, HEAD_COLUMNS))
            .next();
        // Every link follows from the head alone, so all statements are known now:
        // send them pipelined (one round trip, not one per statement).
        let mut stmts = Vec::new();
        for job in &jobs {
            let (links, next) = (job.link)(head.as_deref());
            stmts.extend(job.before.iter().cloned());
            stmts.extend(links);
            head = Some(next);
        }
        let mut prepared = Vec::with_capacity(stmts.len());
        for (sql, _) in &stmts {
            prepared.push(
                c.prepare_cached(&pg_sql(sql))
                    .await
                    .map_err(|e| pg_err(&e))?,
            );
        }
        let params: Vec<_> = stmts.iter().map(|(_, args)| pg_params(args)).collect();
        futures_util::future::try_join_all(
            prepared
                .iter()
                .zip(&params)
                .map(|(st, p)| client.execute(st, p)),
        )
        .await
        .map_err(|e| pg_err(&e))?;
        self.commit().await?;
        Ok(jobs.iter().map(|_| Ok(())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_dropped_mid_transaction_rolls_back_and_is_not_reused() {
        let dir = std::env::temp_dir().join(format!("phiveil-conn-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("t.sqlite3");
        let _ = std::fs::remove_file(&path);
        let pool = Pool::Sqlite(SqlitePool::open(&path).expect("open"));
        let mut c = pool.get().await.expect("conn");
        c.batch("CREATE TABLE t (x INTEGER)").await.expect("create");
        drop(c);
        let mut c = pool.get().await.expect("conn");
        c.begin().await.expect("begin");
        c.exec("INSERT INTO t (x) VALUES (?1)", &[Val::Int(1)])
            .await
            .expect("insert");
        drop(c);
        // The abandoned transaction's lock is released once its connection closes.
        let mut c = pool.get().await.expect("conn");
        c.begin()
            .await
            .expect("a new transaction gets the write lock");
        let rows = c
            .query("SELECT COUNT(*) FROM t", &[], 1)
            .await
            .expect("count");
        assert_eq!(rows, vec![vec![Val::Int(0)]]);
        c.commit().await.expect("commit");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
