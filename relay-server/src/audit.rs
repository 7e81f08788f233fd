//! The tamper-evident audit log: every key, data, grant, login and admin action,
//! allowed or refused, appended to a hash chain in the database.
//!
//! Rows written before migration 5 (below `audit_meta.v2_from`) link as
//! `hash(n) = SHA-256(JSON [seq, ts, actor, role, action, patient, outcome, detail,
//! hash(n-1)])`; rows from then on as `phiveil_core::audit_proof` defines (a leaf digest
//! of the row's content linked to `hash(n-1)`), so that a patient's browser can check its
//! own rows against a signed checkpoint with only the other rows' digests. Hashes are hex;
//! the first row chains from 64 zeros. [`verify`] recomputes the chain and names the
//! first row that was edited, deleted or moved; [`access_log`] answers a patient's rows
//! with their proofs; [`checkpoint`] signs the head for the operator to publish.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use phiveil_core::audit_proof::{
    self, AccessLog, Checkpoint, CheckpointSigner, LogRow, RowContent, WINDOW,
};

use crate::db::{Db, Record, Val};
use crate::error::{ApiError, ApiResult};

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Who: a user id, or `anonymous`.
    pub actor: String,
    /// The actor's role (or `none`).
    pub role: String,
    /// What: `login`, `data-key`, `unwrap`, `upload`, `download`, `grant`, …
    pub action: String,
    /// Which patient (pseudonym) it concerned, if any.
    pub patient: Option<String>,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
    /// A short, secret-free detail.
    pub detail: String,
}

/// A stored audit row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditRow {
    /// Position in the chain (1-based).
    pub seq: i64,
    /// Unix seconds.
    pub ts: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// An alert raised by a rule over the audit stream. Carries no secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Alert {
    /// The rule that fired.
    pub rule: String,
    /// The actor it concerns.
    pub actor: String,
    /// How many events within the window.
    pub count: usize,
    /// Unix seconds.
    pub ts: i64,
}

/// A row's content as `phiveil_core::audit_proof` hashes it.
fn content(seq: i64, ts: i64, e: &AuditEvent) -> RowContent {
    RowContent {
        seq,
        ts,
        actor: e.actor.clone(),
        role: e.role.clone(),
        action: e.action.clone(),
        patient: e.patient.clone(),
        outcome: e.outcome.clone(),
        detail: e.detail.clone(),
    }
}

/// The hash of a row of the chain's second version.
fn row_hash_v2(seq: i64, ts: i64, e: &AuditEvent, prev: &str) -> String {
    audit_proof::link(prev, &audit_proof::leaf(&content(seq, ts, e)))
}

/// The hash of a row written before migration 5.
pub(crate) fn row_hash(seq: i64, ts: i64, e: &AuditEvent, prev: &str) -> String {
    let canon = serde_json::json!([
        seq, ts, e.actor, e.role, e.action, e.patient, e.outcome, e.detail, prev
    ]);
    let digest = Sha256::digest(canon.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Rule: at least `threshold` refused unwraps by one actor within `window_secs`.
#[derive(Debug)]
pub struct Alerts {
    threshold: usize,
    window_secs: i64,
    recent: Mutex<HashMap<String, VecDeque<i64>>>,
    tx: broadcast::Sender<Alert>,
}

impl Alerts {
    /// The default rule: ≥ 5 refused unwraps by one actor in a minute.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(256);
        Self {
            threshold: 5,
            window_secs: 60,
            recent: Mutex::new(HashMap::new()),
            tx,
        }
    }

    /// Subscribes to the live alert feed.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.tx.subscribe()
    }

    fn observe(&self, e: &AuditEvent, ts: i64) {
        if e.action != "unwrap" || e.outcome != "refused" {
            return;
        }
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        let q = recent.entry(e.actor.clone()).or_default();
        q.push_back(ts);
        while q
            .front()
            .is_some_and(|t| ts.saturating_sub(*t) >= self.window_secs)
        {
            q.pop_front();
        }
        if q.len() >= self.threshold {
            let alert = Alert {
                rule: format!(
                    "{}+ refused unwraps in {}s",
                    self.threshold, self.window_secs
                ),
                actor: e.actor.clone(),
                count: q.len(),
                ts,
            };
            tracing::warn!(rule = %alert.rule, actor = %alert.actor, count = alert.count, "alert");
            let _ = self.tx.send(alert);
            q.clear();
        }
    }
}

impl Alerts {
    /// Raises an alert from a rule kept elsewhere (the login throttle).
    pub fn raise(&self, rule: String, actor: String, count: usize) {
        let alert = Alert {
            rule,
            actor,
            count,
            ts: crate::now(),
        };
        tracing::warn!(rule = %alert.rule, actor = %alert.actor, count = alert.count, "alert");
        let _ = self.tx.send(alert);
    }
}

impl Default for Alerts {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends an event to the chain (one transaction) and feeds the alert rules.
pub async fn append(db: &Db, alerts: &Alerts, e: &AuditEvent) -> ApiResult<()> {
    append_pending(db, alerts, e, None).await
}

/// Appends an event and, when given, inserts a pending record in the same
/// transaction (both or neither happen): an action and its audit row commit together.
/// Appends are committed in batches under the audit lock ([`Db::append_audit`]), so the chain stays one
/// chain across connections and replicas.
pub async fn append_pending(
    db: &Db,
    alerts: &Alerts,
    e: &AuditEvent,
    pending: Option<&Record>,
) -> ApiResult<()> {
    let ts = crate::now();
    let clean = sanitized(e);
    let e = &clean;
    let before = pending
        .map(|r| {
            vec![(
                crate::db::INSERT_PENDING,
                crate::db::pending_args(r).to_vec(),
            )]
        })
        .unwrap_or_default();
    let row = e.clone();
    let link = move |head: Option<&[Val]>| {
        let (seq, prev) = match head {
            Some(h) => (
                h.first().map_or(0, Val::int).saturating_add(1),
                h.get(1).map(Val::text).unwrap_or_default(),
            ),
            None => (1, GENESIS.to_owned()),
        };
        let hash = row_hash_v2(seq, ts, &row, &prev);
        let insert = (
            "INSERT INTO audit (seq, ts, actor, role, action, patient, outcome, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            vec![
                seq.into(),
                ts.into(),
                row.actor.as_str().into(),
                row.role.as_str().into(),
                row.action.as_str().into(),
                row.patient.clone().into(),
                row.outcome.as_str().into(),
                row.detail.as_str().into(),
                prev.into(),
                hash.clone().into(),
            ],
        );
        (vec![insert], vec![Val::Int(seq), Val::Text(hash)])
    };
    db.append_audit(crate::db::ChainJob {
        before,
        link: std::sync::Arc::new(link),
    })
    .await?;
    alerts.observe(e, ts);
    Ok(())
}

/// Longest `detail` stored, in characters.
const MAX_DETAIL_CHARS: usize = 200;

/// What may enter an audit column, whoever supplied it: a `patient` that is not a
/// valid [`Name`](crate::name::Name) (newlines, markup, 30 KB of text from a forged
/// request) is not stored; the row says `patient-invalid` instead. Other columns
/// lose control characters and are cut to a bounded length.
fn sanitized(e: &AuditEvent) -> AuditEvent {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .filter(|c| !c.is_control())
            .take(max)
            .collect::<String>()
    };
    let valid = e
        .patient
        .as_deref()
        .filter(|p| crate::name::Name::is_valid(p));
    let mut detail = clean(&e.detail, MAX_DETAIL_CHARS);
    if e.patient.is_some() && valid.is_none() {
        detail = if detail.is_empty() {
            "patient-invalid".to_owned()
        } else {
            format!("{detail}; patient-invalid")
        };
    }
    AuditEvent {
        actor: clean(&e.actor, 200),
        role: clean(&e.role, 32),
        action: clean(&e.action, 64),
        patient: valid.map(str::to_owned),
        outcome: clean(&e.outcome, 32),
        detail,
    }
}

/// Filters for audit queries.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this patient.
    pub patient: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// At most this many rows (default 500, newest first).
    pub limit: Option<u32>,
}

const AUDIT_COLS: &str = "seq, ts, actor, role, action, patient, outcome, detail, prev_hash, hash";

fn row_from(r: &[Val]) -> AuditRow {
    let get = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
    AuditRow {
        seq: get(0).int(),
        ts: get(1).int(),
        event: AuditEvent {
            actor: get(2).text(),
            role: get(3).text(),
            action: get(4).text(),
            patient: get(5).opt_text(),
            outcome: get(6).text(),
            detail: get(7).text(),
        },
        prev_hash: get(8).text(),
        hash: get(9).text(),
    }
}

/// Rows matching `q`, newest first.
pub async fn query(db: &Db, q: &AuditQuery) -> ApiResult<Vec<AuditRow>> {
    let sql = format!(
        "SELECT {AUDIT_COLS} FROM audit
         WHERE (CAST(?1 AS TEXT) IS NULL OR actor = ?1) AND (CAST(?2 AS TEXT) IS NULL OR patient = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR action = ?3) AND (CAST(?4 AS TEXT) IS NULL OR outcome = ?4)
         ORDER BY seq DESC LIMIT ?5"
    );
    let rows = db
        .query(
            &sql,
            &[
                q.actor.clone().into(),
                q.patient.clone().into(),
                q.action.clone().into(),
                q.outcome.clone().into(),
                i64::from(q.limit.unwrap_or(500).min(10_000)).into(),
            ],
            10,
        )
        .await?;
    Ok(rows.iter().map(|r| row_from(r)).collect())
}

/// Rows read per page while verifying (memory stays bounded however long the chain).
const VERIFY_PAGE: i64 = 5_000;

/// The result of verifying the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verification {
    /// Rows checked.
    pub rows: u64,
    /// The first broken position (a row edited, deleted or moved), if any.
    pub first_broken: Option<i64>,
    /// Why it is broken.
    pub reason: Option<String>,
}

/// Recomputes the whole chain, page by page.
pub async fn verify(db: &Db) -> ApiResult<Verification> {
    let mut walk = ChainWalk::new(v2_from(db).await?);
    let mut after = 0i64;
    loop {
        let page = db
            .query(
                &format!("SELECT {AUDIT_COLS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
                &[after.into(), VERIFY_PAGE.into()],
                10,
            )
            .await?;
        let Some(last) = page.last() else {
            return Ok(walk.done());
        };
        after = last.first().map_or(after, Val::int);
        for r in &page {
            if let Some(broken) = walk.step(row_from(r)) {
                return Ok(broken);
            }
        }
    }
}

/// Walks rows in `seq` order and names the first broken one.
struct ChainWalk {
    expected_seq: i64,
    prev: String,
    rows: u64,
    v2_from: i64,
}

impl ChainWalk {
    fn new(v2_from: i64) -> Self {
        Self {
            expected_seq: 1,
            prev: GENESIS.to_owned(),
            rows: 0,
            v2_from,
        }
    }

    /// Checks the next row; `Some` names the first broken position.
    fn step(&mut self, row: AuditRow) -> Option<Verification> {
        self.rows = self.rows.saturating_add(1);
        let broken = |seq: i64, why: &str, rows: u64| {
            Some(Verification {
                rows,
                first_broken: Some(seq),
                reason: Some(why.to_owned()),
            })
        };
        if row.seq != self.expected_seq {
            return broken(
                self.expected_seq,
                "row missing (deleted) or renumbered",
                self.rows,
            );
        }
        if row.prev_hash != self.prev {
            return broken(
                row.seq,
                "previous-hash link broken (row deleted or moved)",
                self.rows,
            );
        }
        let hash = if row.seq >= self.v2_from {
            row_hash_v2(row.seq, row.ts, &row.event, &row.prev_hash)
        } else {
            row_hash(row.seq, row.ts, &row.event, &row.prev_hash)
        };
        if hash != row.hash {
            return broken(
                row.seq,
                "row content does not match its hash (edited)",
                self.rows,
            );
        }
        self.prev = row.hash;
        self.expected_seq = self.expected_seq.saturating_add(1);
        None
    }

    fn done(self) -> Verification {
        Verification {
            rows: self.rows,
            first_broken: None,
            reason: None,
        }
    }
}

/// The first row of the chain's second version (migration 5 records it).
pub async fn v2_from(db: &Db) -> ApiResult<i64> {
    let rows = db
        .query("SELECT value FROM audit_meta WHERE key = 'v2_from'", &[], 1)
        .await?;
    Ok(rows.first().and_then(|r| r.first()).map_or(1, Val::int))
}

/// The chain's head: (seq, hash).
pub async fn head(db: &Db) -> ApiResult<Option<(i64, String)>> {
    let rows = db
        .query(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
            2,
        )
        .await?;
    Ok(rows.first().map(|r| {
        (
            r.first().map_or(0, Val::int),
            r.get(1).map(Val::text).unwrap_or_default(),
        )
    }))
}

async fn rows_between(db: &Db, from: i64, to: i64) -> ApiResult<Vec<AuditRow>> {
    let rows = db
        .query(
            &format!("SELECT {AUDIT_COLS} FROM audit WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"),
            &[from.into(), to.into()],
            10,
        )
        .await?;
    Ok(rows.iter().map(|r| row_from(r)).collect())
}

/// The kept checkpoint at `seq` (a multiple of the window), signed now if there is
/// none yet.
async fn window_checkpoint(
    db: &Db,
    signer: &CheckpointSigner,
    seq: i64,
) -> ApiResult<Option<Checkpoint>> {
    let kept = db
        .query(
            "SELECT seq, hash, ts, signature FROM audit_checkpoints WHERE seq = ?1",
            &[seq.into()],
            4,
        )
        .await?;
    if let Some(r) = kept.first() {
        return Ok(Some(Checkpoint {
            seq: r.first().map_or(0, Val::int),
            hash: r.get(1).map(Val::text).unwrap_or_default(),
            ts: r.get(2).map_or(0, Val::int),
            signature: r.get(3).map(Val::text).unwrap_or_default(),
        }));
    }
    let Some(row) = rows_between(db, seq, seq).await?.pop() else {
        return Ok(None);
    };
    let cp = signer.sign(seq, &row.hash, crate::now())?;
    db.exec(
        "INSERT INTO audit_checkpoints (seq, hash, ts, signature) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (seq) DO NOTHING",
        &[
            cp.seq.into(),
            cp.hash.as_str().into(),
            cp.ts.into(),
            cp.signature.as_str().into(),
        ],
    )
    .await?;
    // Another request may have kept its own first: answer the kept one.
    Box::pin(window_checkpoint(db, signer, seq)).await
}

/// The head, signed now (for the operator to publish: `phiveil-relay audit checkpoint`).
pub async fn checkpoint(db: &Db, signer: &CheckpointSigner) -> ApiResult<Option<Checkpoint>> {
    match head(db).await? {
        Some((seq, hash)) => Ok(Some(signer.sign(seq, &hash, crate::now())?)),
        None => Ok(None),
    }
}

/// Whether the chain still holds `cp` (the row at its `seq` has its hash) and `cp` is
/// signed by `signer`'s key: a published checkpoint the relay must keep honouring.
pub async fn holds(db: &Db, signer: &CheckpointSigner, cp: &Checkpoint) -> ApiResult<bool> {
    let spki = signer.public_spki()?;
    if !audit_proof::verify_checkpoint(&spki, cp) {
        return Ok(false);
    }
    Ok(rows_between(db, cp.seq, cp.seq)
        .await?
        .first()
        .is_some_and(|r| r.hash == cp.hash))
}

/// Most rows one access log shows.
const ACCESS_LOG_ROWS: i64 = 200;

/// `patient`'s access log: its newest rows, with the leaves between each row and its
/// window's checkpoint, the checkpoints (and the kept one at `since`, a window boundary
/// the browser saw before), and the head signed now.
pub async fn access_log(
    db: &Db,
    signer: &CheckpointSigner,
    patient: &str,
    since: Option<i64>,
) -> ApiResult<AccessLog> {
    let key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        signer.public_spki()?,
    );
    let v2_from = v2_from(db).await?;
    let Some((head_seq, head_hash)) = head(db).await? else {
        return Ok(AccessLog {
            key,
            v2_from,
            ..AccessLog::default()
        });
    };
    let rows = db
        .query(
            &format!(
                "SELECT {AUDIT_COLS} FROM audit WHERE patient = ?1 ORDER BY seq DESC LIMIT ?2"
            ),
            &[patient.into(), ACCESS_LOG_ROWS.into()],
            10,
        )
        .await?;
    let rows: Vec<AuditRow> = rows.iter().map(|r| row_from(r)).collect();
    let own: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.seq).collect();
    // Each provable row folds to the end of its window, or to the head.
    let mut ends = std::collections::BTreeSet::new();
    for r in rows.iter().filter(|r| r.seq >= v2_from) {
        let end = r
            .seq
            .saturating_add(WINDOW - 1)
            .checked_div(WINDOW)
            .unwrap_or(0)
            .saturating_mul(WINDOW);
        ends.insert(end.min(head_seq));
    }
    let mut checkpoints = Vec::new();
    let mut wanted: std::collections::BTreeSet<i64> =
        ends.iter().copied().filter(|e| e % WINDOW == 0).collect();
    if let Some(s) = since.filter(|s| *s > 0 && s % WINDOW == 0 && *s <= head_seq) {
        wanted.insert(s);
    }
    for seq in wanted {
        if let Some(cp) = window_checkpoint(db, signer, seq).await? {
            checkpoints.push(cp);
        }
    }
    // The leaves of the other rows in each span (row, end].
    let mut leaves = std::collections::BTreeMap::new();
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for r in rows.iter().filter(|r| r.seq >= v2_from) {
        let end = *ends.range(r.seq..).next().unwrap_or(&head_seq);
        if r.seq < end {
            spans.push((r.seq.saturating_add(1), end));
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    for (a, b) in merged {
        for r in rows_between(db, a, b).await? {
            if !own.contains(&r.seq) {
                leaves.insert(r.seq, audit_proof::leaf(&content(r.seq, r.ts, &r.event)));
            }
        }
    }
    Ok(AccessLog {
        key,
        v2_from,
        head: Some(signer.sign(head_seq, &head_hash, crate::now())?),
        checkpoints,
        rows: rows
            .into_iter()
            .map(|r| LogRow {
                content: content(r.seq, r.ts, &r.event),
                prev_hash: r.prev_hash,
                hash: r.hash,
            })
            .collect(),
        leaves,
    })
}

/// Opens the checkpoint signing key (`<data-dir>/audit-checkpoint.key`, PKCS #8, mode
/// 0600), creating it when absent.
pub fn open_checkpoint_key(path: &std::path::Path) -> ApiResult<CheckpointSigner> {
    if !path.exists() {
        let key = CheckpointSigner::generate(&mut rand_core::OsRng);
        crate::write_private(path, &key.to_pkcs8_der()?)?;
    }
    let der = zeroize::Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| ApiError::Internal(format!("read {}: {e}", path.display())))?,
    );
    Ok(CheckpointSigner::from_pkcs8_der(&der)?)
}
