//! Private-statistics studies under TFHE. The relay stores the owner's public study
//! keys, checks each patient's proven submission, folds it into running encrypted
//! totals and releases the encrypted aggregate to the owner once the cohort reaches the
//! study's `k`. It never holds a key that decrypts anything.
//!
//! Flow: a clinician creates a study (`POST /v1/studies`), runs the key ceremony in the
//! browser and uploads the compressed server key, compact public key, CRS (or asks the
//! relay to make the CRS) and, optionally, the client key wrapped under a passphrase
//! (`POST /v1/studies/{id}/keys`, presigned PUTs); `POST /v1/studies/{id}/open` checks
//! them with a self-test. A patient registers one submission (`POST
//! /v1/studies/{id}/submissions`), uploads the proven list to the presigned URL and
//! completes it; the relay verifies the proof there and then (a bad one is refused,
//! audited, and does not take the patient's slot), and the aggregation workers of every
//! replica fold accepted submissions in batches, each into a lane of its own (a partial
//! aggregate under a lease). Every batch ends with a checkpoint object and one database
//! transaction that moves the lane's checkpoint pointer and marks the batch folded, so a
//! crash at any point, or a replica killed mid-batch, resumes from the lane's last
//! checkpoint without counting a submission twice; the release merges the lanes.
//! `POST /v1/studies/{id}/release` asks for the release (refused below `k`); the owner
//! downloads it (`GET /v1/studies/{id}/artifacts/release`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use phiveil_core::fhe::{self, Aggregator, FieldSpec, StudySpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Caller, Claims};
use crate::db::Val;
use crate::error::{ApiError, ApiResult};
use crate::handler::{audited, json_body, random_id};
use crate::{now, AppState};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(self::get, cancel))
        .routes(routes!(keys))
        .routes(routes!(open))
        .routes(routes!(artifact))
        .routes(routes!(submit))
        .routes(routes!(complete))
        .routes(routes!(mine))
        .routes(routes!(release))
}

/// Content type of every study object (TFHE serializations).
pub const STUDY_CONTENT_TYPE: &str = "application/octet-stream";
/// The artifacts an owner uploads, with their size limits.
const ARTIFACTS: [(&str, u64); 4] = [
    ("server-key", MAX_ARTIFACT_BYTES),
    ("public-key", 4 << 20),
    ("crs", 64 << 20),
    ("wrapped-client-key", 4 << 20),
];
/// Largest study object uploaded through a presigned PUT (the server key).
pub const MAX_ARTIFACT_BYTES: u64 = 256 << 20;
/// Largest release or checkpoint object the relay reads back.
const MAX_STATE_BYTES: u64 = 256 << 20;
/// Submissions folded per batch by default (one library `sum` per total per batch; the
/// running-total additions are paid once per batch); `Config::study_batch`.
pub const BATCH: usize = 32;
/// Most studies a list returns.
const MAX_LIST: i64 = 200;

/// A study as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Study {
    /// Relay-assigned id.
    pub id: String,
    /// The owner's user id.
    pub owner: String,
    /// Title.
    pub title: String,
    /// Fields, minimum cohort.
    pub spec: StudySpec,
    /// `keys-pending`, `open` or `released`.
    pub state: String,
    /// Submissions folded into the encrypted totals.
    pub folded: u64,
    /// Submissions accepted (proof verified) and not yet folded.
    pub queued: u64,
    /// Whether the owner asked for the release.
    pub release_requested: bool,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Release time (Unix seconds).
    pub released_at: Option<i64>,
    /// Whether this relay is opening the study now (checking its keys, making the
    /// CRS): the client polls until `state` is `open` or `open_error` is set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub opening: bool,
    /// Why the last opening failed (the owner may upload keys again and retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_error: Option<String>,
}

/// How long `POST /open` waits for its job before answering `202` (the job goes on;
/// the client polls the study).
pub const OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A study's opening job on this relay.
#[derive(Debug, Clone)]
enum OpenJob {
    Running(Arc<tokio::sync::Notify>),
    Failed(String),
}

/// What was registered for a study object a presigned PUT targets (local store only;
/// S3 checks its own signatures); see [`crate::store::SignedQuery::check_body`].
pub struct UploadTarget {
    /// The submitting patient (none for the owner's keys).
    pub patient: Option<String>,
    /// The registered size.
    pub size: u64,
    /// Whether the object still awaits its upload.
    pub pending: bool,
}

/// The study artifact or submission registered under object `key`, if any.
pub async fn upload_target(state: &AppState, key: &str) -> ApiResult<Option<UploadTarget>> {
    let a = state
        .db
        .query(
            "SELECT size, state FROM study_artifacts WHERE object_key = ?1",
            &[key.into()],
            2,
        )
        .await?;
    if let Some(r) = a.first() {
        return Ok(Some(UploadTarget {
            patient: None,
            size: u64::try_from(r.first().map_or(0, Val::int)).unwrap_or(0),
            pending: r.get(1).map(Val::text).as_deref() == Some("pending"),
        }));
    }
    let s = state
        .db
        .query(
            "SELECT size, state, patient FROM study_submissions WHERE object_key = ?1",
            &[key.into()],
            3,
        )
        .await?;
    Ok(s.first().map(|r| UploadTarget {
        patient: r.get(2).map(Val::text),
        size: u64::try_from(r.first().map_or(0, Val::int)).unwrap_or(0),
        pending: r.get(1).map(Val::text).as_deref() == Some("pending"),
    }))
}

/// A patient's submission.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Submission {
    /// Relay-assigned id.
    pub id: String,
    /// The study.
    pub study: String,
    /// `pending` (upload expected), `accepted` (proof verified, queued), `folded` or
    /// `refused`.
    pub state: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// Declared size in bytes.
    pub size: u64,
}

/// Wakes the aggregation worker; stops it at shutdown.
#[derive(Debug)]
pub struct StudyWork {
    notify: tokio::sync::Notify,
    stop: AtomicBool,
    /// Parsed public keys and CRSs of open studies (verification without re-parsing).
    params: Mutex<HashMap<String, Arc<PublicParams>>>,
    /// Opening jobs running or failed on this relay, by study.
    opening: Mutex<HashMap<String, OpenJob>>,
    /// This relay process's name as the owner of study lanes (random per process).
    replica: String,
}

impl std::fmt::Debug for PublicParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicParams")
    }
}

impl StudyWork {
    /// The worker's state, its replica named `name` (with a random suffix, so every
    /// process is distinct) as the owner of study lanes.
    pub fn new(name: Option<&str>) -> Self {
        Self {
            notify: tokio::sync::Notify::new(),
            stop: AtomicBool::new(false),
            params: Mutex::default(),
            opening: Mutex::default(),
            replica: random_id(&format!("{}-", name.unwrap_or("replica")), 6),
        }
    }

    /// This relay process's name as the owner of study lanes.
    fn replica(&self) -> &str {
        &self.replica
    }

    /// Asks the worker to look for work now.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// A study's public key and CRS, parsed.
pub struct PublicParams {
    public: tfhe::CompactPublicKey,
    crs: tfhe::zk::CompactPkeCrs,
}

const STUDY_COLS: &str = "s.id, s.owner, s.title, s.spec, s.state, s.folded, s.release_requested, s.created_at, s.released_at, (SELECT COUNT(*) FROM study_submissions q WHERE q.study = s.id AND q.state = 'accepted')";

fn study_from(row: &[Val]) -> ApiResult<Study> {
    let get = |i: usize| row.get(i).cloned().unwrap_or(Val::Null);
    let spec: StudySpec = serde_json::from_str(&get(3).text())
        .map_err(|e| ApiError::Internal(format!("stored study spec: {e}")))?;
    Ok(Study {
        id: get(0).text(),
        owner: get(1).text(),
        title: get(2).text(),
        spec,
        state: get(4).text(),
        folded: u64::try_from(get(5).int()).unwrap_or(0),
        release_requested: get(6).int() != 0,
        created_at: get(7).int(),
        released_at: match get(8) {
            Val::Int(t) => Some(t),
            _ => None,
        },
        queued: u64::try_from(get(9).int()).unwrap_or(0),
        opening: false,
        open_error: None,
    })
}

async fn load(state: &AppState, id: &str) -> ApiResult<Option<Study>> {
    let rows = state
        .db
        .query(
            &format!("SELECT {STUDY_COLS} FROM studies s WHERE s.id = ?1"),
            &[id.into()],
            10,
        )
        .await?;
    let mut study = rows.first().map(|r| study_from(r)).transpose()?;
    if let Some(st) = study.as_mut() {
        match state
            .study_work
            .opening
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
        {
            Some(OpenJob::Running(_)) => st.opening = st.state == "keys-pending",
            Some(OpenJob::Failed(why)) if st.state == "keys-pending" => st.open_error = Some(why),
            _ => {}
        }
    }
    Ok(study)
}

fn owner_of(c: &Claims, s: &Study) -> ApiResult<()> {
    if c.role == "clinician" && c.sub == s.owner {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the study's owner may do this".into(),
        ))
    }
}

fn patient_of(c: &Claims) -> ApiResult<String> {
    match (c.role.as_str(), &c.pseudonym) {
        ("patient", Some(p)) => Ok(p.clone()),
        _ => Err(ApiError::Forbidden(
            "only patients submit to studies".into(),
        )),
    }
}

/// Checks a study or training title: 1-200 characters, not blank, no control characters.
pub(crate) fn check_title(title: &str) -> ApiResult<()> {
    if title.trim().is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(
            "title must be 1-200 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// A study's declaration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StudyDeclaration {
    /// Title (1-200 characters).
    title: String,
    /// The integer fields, in submission order (1 to 32).
    fields: Vec<FieldSpec>,
    /// Nothing is released before this many submissions (at least 2).
    min_cohort: u64,
    /// `proven` (ranges of exactly 2^k values; histograms and thresholds sent by the
    /// client as proven bits, so the relay compares nothing: the fast encoding, which
    /// the web app declares) or `checked` (the relay clamps and compares under
    /// encryption; the default when absent, as before the proven encoding existed).
    #[serde(default)]
    encoding: phiveil_core::fhe::Encoding,
}

/// Inserts a study: `(id, owner, title, spec, state, created_at)`; declared studies and
/// a training's first round start `keys-pending`, later rounds `open`.
pub const INSERT_STUDY: &str = "INSERT INTO studies (id, owner, title, spec, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Declares a study: title, integer fields (ranges, bins, thresholds, DP), minimum
/// cohort (clinician).
#[utoipa::path(post, path = "/v1/studies", tag = "studies", operation_id = "create_study", security(("bearer" = [])), request_body = StudyDeclaration,
    responses((status = 201, description = "The study, `keys-pending`", body = Study)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let study = audited(&state, Some(c), "study-create", None, async || {
        if c.role != "clinician" {
            return Err(ApiError::Forbidden("only clinicians own studies".into()));
        }
        let req: StudyDeclaration = json_body(&body)?;
        check_title(&req.title)?;
        let spec = StudySpec {
            id: random_id("st-", 10),
            fields: req.fields,
            min_cohort: req.min_cohort,
            encoding: req.encoding,
        };
        spec.validate()?;
        let spec_json =
            serde_json::to_string(&spec).map_err(|e| ApiError::Internal(format!("spec: {e}")))?;
        state
            .db
            .exec(
                INSERT_STUDY,
                &[
                    spec.id.clone().into(),
                    c.sub.clone().into(),
                    req.title.into(),
                    spec_json.into(),
                    "keys-pending".into(),
                    now().into(),
                ],
            )
            .await?;
        load(&state, &spec.id).await?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(study)))
}

/// Every study, newest first (any signed-in user).
///
/// Patients choose what to join; the declaration is public. Trainings' round studies
/// are listed under their training.
#[utoipa::path(get, path = "/v1/studies", tag = "studies", operation_id = "list_studies", security(("bearer" = [])),
    responses((status = 200, description = "Studies", body = Vec<Study>)))]
pub async fn list(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Vec<Study>>> {
    let rows = state.db.query(
        &format!("SELECT {STUDY_COLS} FROM studies s WHERE NOT EXISTS (SELECT 1 FROM trainings t WHERE t.key_study = s.id) AND NOT EXISTS (SELECT 1 FROM training_rounds r WHERE r.study = s.id) ORDER BY s.created_at DESC, s.id LIMIT ?1"),
        &[MAX_LIST.into()],
        10,
    ).await?;
    Ok(Json(
        rows.iter()
            .map(|r| study_from(r))
            .collect::<ApiResult<_>>()?,
    ))
}

/// One study: its state, folded and queued submissions; `opening` and `open_error`
/// while its keys are checked.
#[utoipa::path(get, path = "/v1/studies/{id}", tag = "studies", operation_id = "get_study", security(("bearer" = [])),
    params(("id" = String, Path, description = "Study id")), responses((status = 200, description = "The study", body = Study)))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Study>> {
    load(&state, &id).await?.map(Json).ok_or(ApiError::NotFound)
}

/// The sizes of the ceremony's uploads, in bytes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KeysReq {
    /// The compressed server key.
    server_key: u64,
    /// The compact public key.
    public_key: u64,
    /// The CRS; absent: the relay makes it at opening.
    #[serde(default)]
    crs: Option<u64>,
    /// The client key wrapped under the owner's passphrase, kept for the owner.
    #[serde(default)]
    wrapped_client_key: Option<u64>,
}

/// Presigned PUTs for a ceremony's uploads.
#[derive(Serialize, ToSchema)]
struct KeyUploads {
    /// By artifact: `server-key`, `public-key`, `crs`, `wrapped-client-key`.
    uploads: BTreeMap<String, crate::store::Presigned>,
}

/// Where artifact `kind` of `study` is stored. The ceremony's uploads carry the
/// attempt they belong to, so a ceremony that failed halfway can upload again
/// (objects are never overwritten); the release and a relay-made CRS have one each.
fn artifact_key(study: &str, kind: &str, attempt: Option<&str>) -> String {
    match attempt {
        Some(a) => format!("studies/{study}/{a}/{kind}.bin"),
        None => format!("studies/{study}/{kind}.bin"),
    }
}

/// Presigned PUTs for the key ceremony's uploads (owner, before opening).
///
/// The server key, public key, optional CRS and wrapped client key; a ceremony that
/// failed halfway may ask again (objects are never overwritten).
#[utoipa::path(post, path = "/v1/studies/{id}/keys", tag = "studies", security(("bearer" = [])), params(("id" = String, Path, description = "Study id")),
    request_body = KeysReq, responses((status = 200, description = "The uploads", body = KeyUploads)))]
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let study = load(&state, &id).await?;
    let wanted = audited(&state, Some(c), "study-keys", None, async || {
        let study = study.ok_or(ApiError::NotFound)?;
        owner_of(c, &study)?;
        if study.state != "keys-pending" {
            return Err(ApiError::Conflict(
                "the study's keys are already set".into(),
            ));
        }
        if study.opening {
            return Err(ApiError::Conflict(
                "the study is being opened with the keys uploaded; wait for the outcome".into(),
            ));
        }
        let req: KeysReq = json_body(&body)?;
        let mut wanted = Vec::new();
        for (kind, limit) in ARTIFACTS {
            let size = match kind {
                "server-key" => Some(req.server_key),
                "public-key" => Some(req.public_key),
                "crs" => req.crs,
                _ => req.wrapped_client_key,
            };
            if let Some(size) = size {
                if size == 0 || size > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                wanted.push((kind, size));
            }
        }
        let expires = now().saturating_add(state.config.presign_ttl_secs);
        let attempt = random_id("k", 6);
        let study_id = [Val::from(id.as_str())];
        let wanted: Vec<(&str, u64, String)> = wanted
            .into_iter()
            .map(|(kind, size)| (kind, size, artifact_key(&id, kind, Some(&attempt))))
            .collect();
        let rows: Vec<[Val; 5]> = wanted
            .iter()
            .map(|(kind, size, key)| {
                [
                    id.as_str().into(),
                    (*kind).into(),
                    key.as_str().into(),
                    i64::try_from(*size).unwrap_or(i64::MAX).into(),
                    expires.into(),
                ]
            })
            .collect();
        // The first statement matches while the keys are pending, so the rest run.
        let mut stmts: Vec<(&str, &[Val])> = vec![
            ("UPDATE studies SET state = 'keys-pending' WHERE id = ?1 AND state = 'keys-pending'", &study_id),
            ("DELETE FROM study_artifacts WHERE study = ?1", &study_id),
        ];
        for r in &rows {
            stmts.push((
                "INSERT INTO study_artifacts (study, kind, object_key, size, state, expires_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
                r,
            ));
        }
        if state.db.transaction(&stmts).await?.first() != Some(&1) {
            return Err(ApiError::Conflict(
                "the study's keys are already set".into(),
            ));
        }
        Ok((wanted, expires))
    }).await?;
    let (wanted, expires) = wanted;
    let mut uploads = BTreeMap::new();
    for (kind, size, key) in wanted {
        let p = state
            .store
            .presign_put(&key, size, STUDY_CONTENT_TYPE, expires)
            .await?;
        uploads.insert(kind.to_owned(), p);
    }
    Ok(Json(KeyUploads { uploads }))
}

/// Reads a completed artifact of a study.
async fn read_artifact(state: &AppState, study: &str, kind: &str) -> ApiResult<Vec<u8>> {
    let limit = ARTIFACTS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(MAX_STATE_BYTES, |(_, l)| *l);
    let owner = artifact_study(state, study, kind).await?;
    let rows = state
        .db
        .query(
            "SELECT object_key FROM study_artifacts WHERE study = ?1 AND kind = ?2",
            &[owner.as_str().into(), kind.into()],
            1,
        )
        .await?;
    // Studies keyed before artifacts carried their attempt have no row key to differ.
    let key = rows
        .first()
        .and_then(|r| r.first())
        .map_or_else(|| artifact_key(&owner, kind, None), Val::text);
    state.store.get(&key, limit).await
}

/// The study whose keys a study uses: a training round's keys are those of the
/// training's first round; any other study has its own.
pub(crate) async fn key_study(state: &AppState, study: &str) -> ApiResult<String> {
    let rows = state.db.query(
        "SELECT t.key_study FROM training_rounds r JOIN trainings t ON t.id = r.training WHERE r.study = ?1",
        &[study.into()],
        1,
    ).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .map_or_else(|| study.to_owned(), Val::text))
}

/// The study holding artifact `kind` of `study`: the key study for keys, the study
/// itself for its release.
async fn artifact_study(state: &AppState, study: &str, kind: &str) -> ApiResult<String> {
    if kind == "release" {
        Ok(study.to_owned())
    } else {
        key_study(state, study).await
    }
}

fn blocking_err(e: tokio::task::JoinError) -> ApiError {
    ApiError::Internal(format!("study task: {e}"))
}

/// Checks the uploaded keys with a self-test (making the CRS if absent) and opens the
/// study (owner).
///
/// Checks at once that the uploads are in place with their sizes, then starts a job that checks the keys (public key
/// conformant; CRS, public key and server key work together in a self-test
/// submission), makes the CRS when the owner left it to the relay, and opens the
/// study. The answer is `200` with the open study when the job ends within
/// [`OPEN_WAIT`], its error when it fails by then, and otherwise `202` with
/// `opening: true`: the client polls `GET /v1/studies/{id}` until `state` is `open`
/// or `open_error` says why it failed. After a failure the owner may upload keys
/// again and call `open` again. The job's outcome is audited when it ends.
#[utoipa::path(post, path = "/v1/studies/{id}/open", tag = "studies", security(("bearer" = [])), params(("id" = String, Path, description = "Study id")),
    responses((status = 200, description = "Open", body = Study),
              (status = 202, description = "Still opening (`opening: true`); poll the study", body = Study)))]
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = caller.0.clone();
    let checked = open_check(&state, &c, &id).await;
    let (study, kinds) = match checked {
        Ok(x) => x,
        Err(e) => return audited(&state, Some(&c), "study-open", None, async || Err(e)).await,
    };
    let notify = {
        let mut jobs = state
            .study_work
            .opening
            .lock()
            .map_err(|_| ApiError::Internal("open jobs lock".into()))?;
        match jobs.get(&id) {
            Some(OpenJob::Running(n)) => n.clone(),
            _ => {
                let n = Arc::new(tokio::sync::Notify::new());
                jobs.insert(id.clone(), OpenJob::Running(n.clone()));
                let (state, c, id, n2) = (state.clone(), c.clone(), id.clone(), n.clone());
                tokio::spawn(async move {
                    let res = open_work(&state, &id, study, kinds).await;
                    let failed = res.as_ref().err().map(open_error_text);
                    let _ = audited(&state, Some(&c), "study-open", None, async || res).await;
                    if let Ok(mut jobs) = state.study_work.opening.lock() {
                        match failed {
                            Some(why) => jobs.insert(id.clone(), OpenJob::Failed(why)),
                            None => jobs.remove(&id),
                        };
                    }
                    n2.notify_waiters();
                });
                n
            }
        }
    };
    let notified = notify.notified();
    // The job may have ended between taking the handle and waiting on it.
    let finished = |state: &AppState| {
        !matches!(
            state
                .study_work
                .opening
                .lock()
                .ok()
                .and_then(|m| m.get(&id).cloned()),
            Some(OpenJob::Running(_))
        )
    };
    if !finished(&state) {
        let _ = tokio::time::timeout(OPEN_WAIT, notified).await;
    }
    let study = load(&state, &id).await?.ok_or(ApiError::NotFound)?;
    if let Some(why) = &study.open_error {
        return Err(ApiError::BadRequest(why.clone()));
    }
    let status = if study.opening {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(study)).into_response())
}

/// What the owner reads about a failed opening.
fn open_error_text(e: &ApiError) -> String {
    match e {
        ApiError::BadRequest(d) | ApiError::Conflict(d) | ApiError::Unprocessable(d) => d.clone(),
        _ => "the relay could not open the study; upload the keys again and retry".into(),
    }
}

/// The owner cancels a study that never opened.
///
/// For a study whose ceremony failed or was abandoned. A study that is open, being opened, or the
/// key study of a training stays; objects already uploaded are left in the store
/// (public keys and the wrapped client key, nothing a patient sent).
#[utoipa::path(delete, path = "/v1/studies/{id}", tag = "studies", operation_id = "cancel_study", security(("bearer" = [])),
    params(("id" = String, Path, description = "Study id")), responses((status = 204, description = "Cancelled")))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let c = &caller.0;
    let study = load(&state, &id).await?;
    audited(&state, Some(c), "study-cancel", None, async || {
        let study = study.ok_or(ApiError::NotFound)?;
        owner_of(c, &study)?;
        if study.state != "keys-pending" || study.opening {
            return Err(ApiError::Conflict(
                "only a study that never opened can be cancelled".into(),
            ));
        }
        let used = state.db.query(
            "SELECT COUNT(*) FROM trainings WHERE key_study = ?1",
            &[id.as_str().into()],
            1,
        ).await?;
        if used.first().and_then(|r| r.first()).map_or(0, Val::int) > 0 {
            return Err(ApiError::Conflict(
                "this study holds a training's keys; cancel the training instead".into(),
            ));
        }
        let study_id = [Val::from(id.as_str())];
        // The first statement matches only a study still waiting for its keys (and
        // no training's round), so the deletions run only then.
        let n = state.db.transaction(&[
            (
                "UPDATE studies SET state = 'keys-pending' WHERE id = ?1 AND state = 'keys-pending' AND NOT EXISTS (SELECT 1 FROM training_rounds r WHERE r.study = studies.id)",
                &study_id,
            ),
            ("DELETE FROM study_artifacts WHERE study = ?1", &study_id),
            ("DELETE FROM studies WHERE id = ?1", &study_id),
        ]).await?;
        if n.first() != Some(&1) {
            return Err(ApiError::Conflict(
                "only a study that never opened can be cancelled".into(),
            ));
        }
        if let Ok(mut jobs) = state.study_work.opening.lock() {
            jobs.remove(&id);
        }
        Ok(StatusCode::NO_CONTENT)
    }).await
}

/// The quick checks of `open`: the owner, the state, every upload in place.
async fn open_check(state: &AppState, c: &Claims, id: &str) -> ApiResult<(Study, Vec<String>)> {
    let study = load(state, id).await?.ok_or(ApiError::NotFound)?;
    owner_of(c, &study)?;
    if study.state != "keys-pending" {
        return Err(ApiError::Conflict("the study is already open".into()));
    }
    let rows = state
        .db
        .query(
            "SELECT kind, object_key, size FROM study_artifacts WHERE study = ?1",
            &[id.into()],
            3,
        )
        .await?;
    let mut kinds = Vec::new();
    for r in &rows {
        let (kind, key, size) = (
            r.first().map(Val::text).unwrap_or_default(),
            r.get(1).map(Val::text).unwrap_or_default(),
            r.get(2).map(Val::int).unwrap_or(0),
        );
        if state.store.size(&key).await? != u64::try_from(size).ok() {
            return Err(ApiError::Conflict(format!(
                "the {kind} is missing or has another size"
            )));
        }
        kinds.push(kind);
    }
    for needed in ["server-key", "public-key"] {
        if !kinds.iter().any(|k| k == needed) {
            return Err(ApiError::Conflict(format!("the {needed} was not uploaded")));
        }
    }
    Ok((study, kinds))
}

/// The job of `open`: parse and self-test the keys, make the CRS if needed, open
/// (the handler reads the study back).
async fn open_work(state: &AppState, id: &str, study: Study, kinds: Vec<String>) -> ApiResult<()> {
    let public = read_artifact(state, id, "public-key").await?;
    let server = read_artifact(state, id, "server-key").await?;
    let crs = if kinds.iter().any(|k| k == "crs") {
        Some(read_artifact(state, id, "crs").await?)
    } else {
        None
    };
    let spec = study.spec.clone();
    let (params, made_crs) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let public = fhe::public_key_from_bytes(&public)?;
        let (crs, made) = match crs {
            Some(b) => (fhe::crs_from_bytes(&b)?, None),
            None => {
                let crs = fhe::make_crs(&spec)?;
                let bytes = fhe::to_bytes(&crs)?;
                (crs, Some(bytes))
            }
        };
        let server = fhe::server_key_from_bytes(&server)?;
        self_test(&spec, &public, &crs, &server)?;
        Ok((PublicParams { public, crs }, made))
    })
    .await
    .map_err(|_| {
        ApiError::BadRequest("the study keys do not work together (self-test failed)".into())
    })??;
    if let Some(bytes) = made_crs {
        let key = artifact_key(id, "crs", Some(&random_id("c", 6)));
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        state.store.put(&key, bytes).await?;
        state.db.exec(
            "INSERT INTO study_artifacts (study, kind, object_key, size, state, expires_at) VALUES (?1, 'crs', ?2, ?3, 'complete', 0)",
            &[id.into(), key.into(), size.into()],
        ).await?;
    }
    let n = state
        .db
        .transaction(&[
            (
                "UPDATE studies SET state = 'open' WHERE id = ?1 AND state = 'keys-pending'",
                &[id.into()],
            ),
            (
                "UPDATE study_artifacts SET state = 'complete' WHERE study = ?1",
                &[id.into()],
            ),
        ])
        .await?;
    if n.first() != Some(&1) {
        return Err(ApiError::Conflict("the study is already open".into()));
    }
    if let Ok(mut m) = state.study_work.params.lock() {
        m.insert(id.to_owned(), Arc::new(params));
    }
    Ok(())
}

/// Encrypts every field's lowest value as a proven list under the uploaded public key
/// and CRS, then verifies its proof and expands it with the uploaded server key.
fn self_test(
    spec: &StudySpec,
    public: &tfhe::CompactPublicKey,
    crs: &tfhe::zk::CompactPkeCrs,
    server: &tfhe::CompressedServerKey,
) -> ApiResult<()> {
    let failed =
        |_| ApiError::BadRequest("the study keys do not work together (self-test failed)".into());
    let lows: Vec<i64> = spec.fields.iter().map(|f| f.lo).collect();
    let list = fhe::encrypt_submission(
        spec,
        public,
        crs,
        "relay-self-test",
        &lows,
        &mut rand_core::OsRng,
    )
    .map_err(failed)?;
    let pool = fhe::KeyedPool::decompress(server)?;
    pool.run(|| {
        let agg = Aggregator::new(spec.clone(), public.clone(), crs.clone())?;
        agg.verify("self-test", "relay-self-test", &list)
    })
    .map_err(failed)?;
    Ok(())
}

/// The public key and CRS of an open study (parsed once, then cached).
async fn params(state: &AppState, id: &str) -> ApiResult<Arc<PublicParams>> {
    let id = &key_study(state, id).await?;
    if let Some(p) = state
        .study_work
        .params
        .lock()
        .ok()
        .and_then(|m| m.get(id).cloned())
    {
        return Ok(p);
    }
    let public = read_artifact(state, id, "public-key").await?;
    let crs = read_artifact(state, id, "crs").await?;
    let p = tokio::task::spawn_blocking(move || -> ApiResult<PublicParams> {
        Ok(PublicParams {
            public: fhe::public_key_from_bytes(&public)?,
            crs: fhe::crs_from_bytes(&crs)?,
        })
    })
    .await
    .map_err(blocking_err)??;
    let p = Arc::new(p);
    if let Ok(mut m) = state.study_work.params.lock() {
        m.insert(id.to_owned(), p.clone());
    }
    Ok(p)
}

/// A presigned download of a study artifact.
///
/// The public key and CRS are public once the study is open; the server key, the
/// wrapped client key and the release are the owner's.
#[utoipa::path(get, path = "/v1/studies/{id}/artifacts/{kind}", tag = "studies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Study id"), ("kind" = String, Path,
        description = "`public-key`, `crs`, `server-key`, `wrapped-client-key` or `release`")),
    responses((status = 200, description = "The presigned GET", body = crate::store::Presigned)))]
pub async fn artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kind)): Path<(String, String)>,
) -> ApiResult<Json<crate::store::Presigned>> {
    let c = &caller.0;
    let study = load(&state, &id).await?;
    let key = audited(&state, Some(c), "study-download", None, async || {
        let study = study.ok_or(ApiError::NotFound)?;
        match kind.as_str() {
            "public-key" | "crs" if study.state != "keys-pending" => {}
            "server-key" | "wrapped-client-key" => owner_of(c, &study)?,
            "release" if study.state == "released" => owner_of(c, &study)?,
            _ => return Err(ApiError::NotFound),
        }
        let holder = artifact_study(&state, &id, &kind).await?;
        let rows = state.db.query(
            "SELECT object_key FROM study_artifacts WHERE study = ?1 AND kind = ?2 AND state = 'complete'",
            &[holder.into(), kind.as_str().into()],
            1,
        ).await?;
        rows.first()
            .and_then(|r| r.first())
            .map(Val::text)
            .ok_or(ApiError::NotFound)
    }).await?;
    let expires = now().saturating_add(state.config.presign_ttl_secs);
    Ok(Json(state.store.presign_get(&key, expires).await?))
}

/// A submission's registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitReq {
    /// The proven list's size in bytes.
    size: u64,
}

/// A registered submission and where to upload its proven list.
#[derive(Serialize, ToSchema)]
struct SubmissionUpload {
    /// The submission, `pending`.
    submission: Submission,
    /// The presigned PUT.
    upload: crate::store::Presigned,
}

fn submission_from(r: &[Val]) -> Submission {
    let get = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
    Submission {
        id: get(0).text(),
        study: get(1).text(),
        state: get(2).text(),
        reason: get(3).opt_text(),
        size: u64::try_from(get(4).int()).unwrap_or(0),
    }
}

const SUB_COLS: &str =
    "id, study, state, reason, size, patient, object_key, expires_at, proof_digest";

/// Registers the patient's one submission; returns a presigned PUT for the proven
/// list (patient).
#[utoipa::path(post, path = "/v1/studies/{id}/submissions", tag = "studies", security(("bearer" = [])), params(("id" = String, Path, description = "Study id")),
    request_body = SubmitReq,
    responses((status = 201, description = "The submission and its upload", body = SubmissionUpload)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let study = load(&state, &id).await?;
    let patient = c.pseudonym.clone();
    let (sub, key, size, expires) = audited(
        &state,
        Some(c),
        "study-submit",
        patient.as_deref(),
        async || {
            let patient = patient_of(c)?;
            let study = study.ok_or(ApiError::NotFound)?;
            if study.state == "released" || study.release_requested {
                return Err(ApiError::Conflict(
                    "the study was released; it takes no more submissions".into(),
                ));
            }
            if study.state != "open" {
                return Err(ApiError::Conflict("the study is not open yet".into()));
            }
            let req: SubmitReq = json_body(&body)?;
            if req.size == 0 || req.size > fhe::MAX_SUBMISSION_BYTES {
                return Err(ApiError::PayloadTooLarge(fhe::MAX_SUBMISSION_BYTES));
            }
            let sid = random_id("sb-", 12);
            let key = format!("studies/{id}/submissions/{sid}.bin");
            let t = now();
            let expires = t.saturating_add(state.config.presign_ttl_secs);
            let size = i64::try_from(req.size).unwrap_or(i64::MAX);
            // An upload that never arrived and whose URL expired frees the slot.
            state.db.exec(
                "DELETE FROM study_submissions WHERE study = ?1 AND patient = ?2 AND state = 'pending' AND expires_at <= ?3",
                &[id.as_str().into(), patient.as_str().into(), t.into()],
            ).await?;
            state
                .db
                .exec(
                    "INSERT INTO study_submissions (id, study, patient, object_key, size, state, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
                    &[sid.as_str().into(), id.as_str().into(), patient.into(), key.as_str().into(), size.into(), t.into(), expires.into()],
                )
                .await
                .map_err(|e| match e {
                    ApiError::Conflict(_) => ApiError::Conflict(
                        "one submission per patient per study: this patient already submitted"
                            .into(),
                    ),
                    e => e,
                })?;
            Ok((
                Submission {
                    id: sid,
                    study: id.clone(),
                    state: "pending".into(),
                    reason: None,
                    size: req.size,
                },
                key,
                req.size,
                expires,
            ))
        },
    ).await?;
    let upload = state
        .store
        .presign_put(&key, size, STUDY_CONTENT_TYPE, expires)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubmissionUpload {
            submission: sub,
            upload,
        }),
    ))
}

async fn submission_row(state: &AppState, id: &str, sid: &str) -> ApiResult<Option<Vec<Val>>> {
    Ok(state
        .db
        .query(
            &format!("SELECT {SUB_COLS} FROM study_submissions WHERE id = ?1 AND study = ?2"),
            &[sid.into(), id.into()],
            9,
        )
        .await?
        .into_iter()
        .next())
}

/// Verifies the uploaded list's proof and queues it (the submitting patient).
///
/// Checks the uploaded list (size, well-formedness, the proof bound to this study and
/// patient). A list that fails is refused (422) with the reason, audited, and frees the
/// patient's slot.
#[utoipa::path(post, path = "/v1/studies/{id}/submissions/{sid}/complete", tag = "studies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Study id"), ("sid" = String, Path, description = "Submission id")),
    responses((status = 200, description = "Accepted and queued", body = Submission)))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> ApiResult<Json<Submission>> {
    let c = &caller.0;
    let res = complete_inner(&state, c, &id, &sid).await;
    let patient = c.pseudonym.clone();
    match res {
        Err(Refusal::Reason(reason)) => {
            let _ = state.db.exec(
                "UPDATE study_submissions SET state = 'refused', reason = ?1 WHERE id = ?2 AND state = 'pending'",
                &[reason.clone().into(), sid.as_str().into()],
            ).await;
            crate::handler::audit(
                &state,
                Some(c),
                "study-submit-complete",
                patient.as_deref(),
                "refused",
                &reason,
            )
            .await;
            Err(ApiError::Unprocessable(format!(
                "the submission was refused: {reason}"
            )))
        }
        Err(Refusal::Api(e)) => {
            audited(
                &state,
                Some(c),
                "study-submit-complete",
                patient.as_deref(),
                async || Err(e),
            )
            .await
        }
        Ok(s) => {
            state.study_work.wake();
            audited(
                &state,
                Some(c),
                "study-submit-complete",
                patient.as_deref(),
                async || Ok(Json(s)),
            )
            .await
        }
    }
}

enum Refusal {
    /// Refused for its content: the submission is marked refused.
    Reason(String),
    /// Refused as a request (not found, forbidden, conflict).
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

async fn complete_inner(
    state: &AppState,
    c: &Claims,
    id: &str,
    sid: &str,
) -> Result<Submission, Refusal> {
    let patient = patient_of(c)?;
    let row = submission_row(state, id, sid)
        .await?
        .ok_or(ApiError::NotFound)?;
    let get = |i: usize| row.get(i).cloned().unwrap_or(Val::Null);
    if get(5).text() != patient {
        return Err(ApiError::NotFound.into());
    }
    if get(2).text() != "pending" {
        return Ok(submission_from(&row));
    }
    let study = load(state, id).await?.ok_or(ApiError::NotFound)?;
    if study.state != "open" || study.release_requested {
        return Err(Refusal::Reason("the study was released".into()));
    }
    let key = get(6).text();
    let size = u64::try_from(get(4).int()).unwrap_or(0);
    match state.store.size(&key).await? {
        Some(s) if s == size => {}
        _ => {
            return Err(ApiError::Conflict("the list is missing or has another size".into()).into())
        }
    }
    let bytes = state.store.get(&key, fhe::MAX_SUBMISSION_BYTES).await?;
    // The worker folds these bytes without checking the proof again, and refuses an
    // object that no longer has this digest (a presigned upload can still overwrite it).
    let digest = list_digest(&bytes);
    let p = params(state, id).await?;
    let spec = study.spec.clone();
    let who = patient.clone();
    let checked = tokio::task::spawn_blocking(move || {
        fhe::check_submission(&spec, &p.public, &p.crs, &who, &bytes)
    })
    .await
    .map_err(blocking_err)?;
    if let Err(e) = checked {
        return Err(Refusal::Reason(match e {
            phiveil_core::Error::Fhe(m) => m,
            e => e.to_string(),
        }));
    }
    let n = state
        .db
        .exec(
            "UPDATE study_submissions SET state = 'accepted', proof_digest = ?2 WHERE id = ?1 AND state = 'pending'",
            &[sid.into(), digest.into()],
        )
        .await?;
    if n != 1 {
        return Err(ApiError::Conflict("the submission changed meanwhile".into()).into());
    }
    Ok(Submission {
        state: "accepted".into(),
        ..submission_from(&row)
    })
}

/// The caller's submissions to the study with their state (patient).
#[utoipa::path(get, path = "/v1/studies/{id}/submission", tag = "studies", security(("bearer" = [])), params(("id" = String, Path, description = "Study id")),
    responses((status = 200, description = "The caller's submissions", body = Vec<Submission>)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Submission>>> {
    let patient = patient_of(&caller.0)?;
    let rows = state.db.query(
        &format!("SELECT {SUB_COLS} FROM study_submissions WHERE study = ?1 AND patient = ?2 ORDER BY created_at"),
        &[id.as_str().into(), patient.into()],
        9,
    ).await?;
    Ok(Json(rows.iter().map(|r| submission_from(r)).collect()))
}

/// Asks for the encrypted release (owner); refused below the minimum cohort.
///
/// Refused while fewer than `k` submissions are accepted; afterwards the study takes no more submissions,
/// the worker folds what is queued, adds central noise where declared, and writes the
/// encrypted release.
#[utoipa::path(post, path = "/v1/studies/{id}/release", tag = "studies", security(("bearer" = [])), params(("id" = String, Path, description = "Study id")),
    responses((status = 202, description = "Release requested", body = Study)))]
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let study = load(&state, &id).await?;
    let study = audited(&state, Some(c), "study-release", None, async || {
        let study = study.ok_or(ApiError::NotFound)?;
        owner_of(c, &study)?;
        if study.state != "open" || study.release_requested {
            return Err(ApiError::Conflict("the study is not open".into()));
        }
        let have = study.folded.saturating_add(study.queued);
        if have < study.spec.min_cohort {
            return Err(ApiError::Conflict(format!(
                "the cohort is too small: {have} of {} submissions",
                study.spec.min_cohort
            )));
        }
        let n = state.db.exec(
            "UPDATE studies SET release_requested = 1 WHERE id = ?1 AND state = 'open' AND release_requested = 0",
            &[id.as_str().into()],
        ).await?;
        if n != 1 {
            return Err(ApiError::Conflict("the study is not open".into()));
        }
        load(&state, &id).await?.ok_or(ApiError::NotFound)
    }).await?;
    state.study_work.wake();
    Ok((StatusCode::ACCEPTED, Json(study)))
}

// ---------------------------------------------------------------------------------
// The aggregation worker.
//
// Replicas divide a study's work by lanes (`migrations/0003_study_lanes.sql`). A lane is
// a partial encrypted aggregate with its own checkpoint chain, owned by one replica
// under a lease it renews while it works. A batch is claimed into the replica's lane
// (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write lock serializes claims), folded
// off the async threads, checkpointed as an object, and committed in one transaction that
// moves the lane's checkpoint (guarded by owner and sequence number) and marks the batch
// folded. A submission's lane is set once and never moved, and it is folded only by the
// commit that moves its lane's checkpoint, so it is counted exactly once: a replica killed
// mid-batch leaves its lane's lease to lapse, another replica takes the lane over whole
// (its late commit, if it ever comes, fails the owner guard) and folds the batch from the
// lane's last checkpoint. The release merges every lane's partial aggregate.

/// Default lease of a replica on a study lane, in seconds (`Config::study_lease_secs`).
pub const LEASE_SECS: i64 = 30;

/// The worker's in-memory state for the lane it last worked on.
struct Loaded {
    lane: String,
    /// The study whose server key this is (training rounds share one).
    keys: String,
    /// Threads holding that server key; every FHE computation runs on them.
    pool: Arc<fhe::KeyedPool>,
    agg: Aggregator,
    seq: i64,
}

/// A lane as the database holds it.
struct Lane {
    id: String,
    seq: i64,
    checkpoint: Option<String>,
}

/// Runs the aggregation worker on its own thread until [`stop_worker`].
pub fn spawn_worker(state: AppState) -> std::thread::JoinHandle<()> {
    let handle = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("phiveil-aggregate".into())
        .spawn(move || {
            let mut loaded: Option<Loaded> = None;
            while !state.study_work.stop.load(Ordering::Acquire) {
                let busy = match handle.block_on(work_once(&state, &mut loaded)) {
                    Ok(busy) => busy,
                    Err(e) => {
                        tracing::error!(error = ?e, "aggregation step failed; retrying");
                        loaded = None;
                        false
                    }
                };
                if !busy {
                    handle.block_on(async {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(5),
                            state.study_work.notify.notified(),
                        )
                        .await;
                    });
                }
            }
            // Leaving: other replicas may take this replica's lanes over at once.
            let me = state.study_work.replica().to_owned();
            if let Err(e) = handle.block_on(state.db.exec(
                "UPDATE study_lanes SET lease_until = 0 WHERE owner = ?1",
                &[me.as_str().into()],
            )) {
                tracing::warn!(error = ?e, "cannot hand this replica's study lanes back");
            }
        })
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot start the aggregation worker");
            std::thread::spawn(|| {})
        })
}

/// Stops the worker (it finishes its current batch).
pub fn stop_worker(state: &AppState) {
    state.study_work.stop.store(true, Ordering::Release);
    state.study_work.notify.notify_one();
}

/// Renews replica `?3`'s lease on lane `?2` until `?1`; changes no row once the lane is
/// another replica's.
const RENEW_LEASE: &str = "UPDATE study_lanes SET lease_until = ?1 WHERE id = ?2 AND owner = ?3";

/// The lock suffix that lets concurrent PostgreSQL claims skip each other's rows.
fn skip_locked(c: &crate::db::Conn) -> &'static str {
    if c.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    }
}

/// One unit of work: a batch folded or a release written. `Ok(false)`: nothing to do.
async fn work_once(state: &AppState, loaded: &mut Option<Loaded>) -> ApiResult<bool> {
    let me = state.study_work.replica().to_owned();
    // A study with work for this replica: accepted submissions that no other replica's
    // live lane holds, or a requested release with nothing left to fold.
    let rows = state.db.query(
        "SELECT s.id FROM studies s WHERE s.state = 'open' AND (EXISTS (SELECT 1 FROM study_submissions q LEFT JOIN study_lanes l ON l.id = q.lane WHERE q.study = s.id AND q.state = 'accepted' AND (q.lane IS NULL OR l.id IS NULL OR l.owner = ?1 OR l.lease_until < ?2)) OR (s.release_requested = 1 AND NOT EXISTS (SELECT 1 FROM study_submissions q WHERE q.study = s.id AND q.state = 'accepted'))) ORDER BY s.created_at LIMIT 1",
        &[me.as_str().into(), now().into()],
        1,
    ).await?;
    let Some(id) = rows.first().and_then(|r| r.first()).map(Val::text) else {
        return Ok(false);
    };
    let study = load(state, &id).await?.ok_or(ApiError::NotFound)?;
    if study.release_requested && study.queued == 0 {
        let reuse = loaded.take().map(|l| (l.keys, l.pool));
        write_release(state, &study, reuse).await?;
        return Ok(true);
    }
    let timer = std::time::Instant::now();
    let lane = acquire_lane(state, &id, &me).await?;
    phase(state, "acquire", &timer);
    if !loaded
        .as_ref()
        .is_some_and(|l| l.lane == lane.id && l.seq == lane.seq)
    {
        let timer = std::time::Instant::now();
        let reuse = loaded.take().map(|l| (l.keys, l.pool));
        *loaded = Some(load_aggregator(state, &study, &lane, reuse).await?);
        phase(state, "load", &timer);
    }
    let timer = std::time::Instant::now();
    let Some(batch) = claim(state, &id, &lane.id, &me).await? else {
        // Another replica took the lane over.
        *loaded = None;
        return Ok(true);
    };
    if batch.is_empty() {
        return Ok(false);
    }
    phase(state, "claim", &timer);
    let mut subs = Vec::with_capacity(batch.len());
    for r in &batch {
        let get = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
        let bytes = state
            .store
            .get(&get(6).text(), fhe::MAX_SUBMISSION_BYTES)
            .await?;
        let checked = get(8).opt_text().map(|d| d == list_digest(&bytes));
        subs.push(Claimed {
            id: get(0).text(),
            patient: get(5).text(),
            bytes,
            same_as_checked: checked,
        });
    }
    // Expand (checking the proof only of a list accepted before digests were kept),
    // bound, fold and checkpoint, off the async threads, renewing the lease meanwhile.
    let Some(mut cur) = loaded.take() else {
        return Ok(false);
    };
    let timer = std::time::Instant::now();
    let beat = tokio::spawn(renew_lease(state.clone(), lane.id.clone(), me.clone()));
    let folded = tokio::task::spawn_blocking(move || {
        let out = fold_batch(&mut cur, &subs);
        (cur, out)
    })
    .await;
    beat.abort();
    let (cur, outcome) = folded.map_err(blocking_err)?;
    let (folded_ids, refused, ckpt) = outcome?;
    phase(state, "fold", &timer);
    state.metrics.record_checkpoint(ckpt.len());
    let timer = std::time::Instant::now();
    let seq = lane.seq;
    let new_seq = seq.saturating_add(1);
    // Unique per attempt: an attempt whose commit was lost leaves an orphan, never a
    // clash with the retry.
    let key = format!(
        "studies/{id}/checkpoint-{new_seq}-{}-{}.bin",
        lane.id,
        random_id("", 6)
    );
    state.store.put(&key, ckpt).await?;
    phase(state, "store", &timer);
    let timer = std::time::Instant::now();
    let count = i64::try_from(cur.agg.count()).unwrap_or(i64::MAX);
    let until = now().saturating_add(state.config.study_lease_secs);
    let head = [
        new_seq.into(),
        key.as_str().into(),
        count.into(),
        until.into(),
        lane.id.as_str().into(),
        me.as_str().into(),
        seq.into(),
    ];
    let fold_args: Vec<[Val; 2]> = folded_ids
        .iter()
        .map(|s| [Val::from(s.as_str()), Val::from(lane.id.as_str())])
        .collect();
    let refuse_args: Vec<[Val; 3]> = refused
        .iter()
        .map(|(s, why)| {
            [
                Val::from(why.as_str()),
                Val::from(s.as_str()),
                Val::from(lane.id.as_str()),
            ]
        })
        .collect();
    let study_arg = [Val::from(id.as_str())];
    let mut stmts: Vec<(&str, &[Val])> = vec![(
        "UPDATE study_lanes SET seq = ?1, checkpoint_key = ?2, folded = ?3, lease_until = ?4 WHERE id = ?5 AND owner = ?6 AND seq = ?7",
        &head,
    )];
    for a in &fold_args {
        stmts.push((
            "UPDATE study_submissions SET state = 'folded' WHERE id = ?1 AND lane = ?2 AND state = 'accepted'",
            a,
        ));
    }
    for a in &refuse_args {
        stmts.push((
            "UPDATE study_submissions SET state = 'refused', reason = ?1 WHERE id = ?2 AND lane = ?3 AND state = 'accepted'",
            a,
        ));
    }
    stmts.push((
        "UPDATE studies SET folded = (SELECT COALESCE(SUM(l.folded), 0) FROM study_lanes l WHERE l.study = ?1) WHERE id = ?1",
        &study_arg,
    ));
    let committed = state.db.transaction(&stmts).await?.first() == Some(&1);
    phase(state, "commit", &timer);
    if committed {
        for (sid, why) in &refused {
            audit_relay(state, "study-fold", "refused", &format!("{sid}: {why}")).await;
        }
        audit_relay(
            state,
            "study-fold",
            "allowed",
            &format!(
                "{id}: {} folded in {}, {count} in that lane",
                folded_ids.len(),
                lane.id
            ),
        )
        .await;
        *loaded = Some(Loaded {
            seq: new_seq,
            ..cur
        });
    } else {
        // The lane moved on without this attempt (taken over): reload next time.
        *loaded = None;
    }
    Ok(true)
}

/// Counts the time since `timer` against the study aggregation's `name` phase.
fn phase(state: &AppState, name: &'static str, timer: &std::time::Instant) {
    state
        .metrics
        .record_study(name, timer.elapsed().as_secs_f64());
}

/// Takes a lane of `study` for replica `me`, in one transaction: first a lapsed lane
/// that still holds claimed submissions (its replica died mid-batch), then this
/// replica's own lane, then any lapsed lane (so the partials stay few), else a new one.
async fn acquire_lane(state: &AppState, study: &str, me: &str) -> ApiResult<Lane> {
    let t = now();
    let until = t.saturating_add(state.config.study_lease_secs);
    let mut c = state.db.conn().await?;
    c.begin().await?;
    let lock = skip_locked(&c);
    let rows = c.query(
        &format!("SELECT l.id FROM study_lanes l WHERE l.study = ?1 AND (l.owner = ?2 OR l.lease_until < ?3) ORDER BY CASE WHEN l.owner <> ?2 AND EXISTS (SELECT 1 FROM study_submissions q WHERE q.lane = l.id AND q.state = 'accepted') THEN 0 WHEN l.owner = ?2 THEN 1 ELSE 2 END, l.created_at, l.id LIMIT 1{lock}"),
        &[study.into(), me.into(), t.into()],
        1,
    ).await?;
    let id = match rows.first().and_then(|r| r.first()).map(Val::text) {
        Some(id) => {
            c.exec(
                "UPDATE study_lanes SET owner = ?1, lease_until = ?2 WHERE id = ?3",
                &[me.into(), until.into(), id.as_str().into()],
            )
            .await?;
            id
        }
        None => {
            let id = random_id("lane-", 8);
            c.exec(
                "INSERT INTO study_lanes (id, study, owner, lease_until, seq, checkpoint_key, folded, created_at) VALUES (?1, ?2, ?3, ?4, 0, NULL, 0, ?5)",
                &[id.as_str().into(), study.into(), me.into(), until.into(), t.into()],
            )
            .await?;
            id
        }
    };
    let row = c
        .query(
            "SELECT seq, checkpoint_key FROM study_lanes WHERE id = ?1",
            &[id.as_str().into()],
            2,
        )
        .await?;
    c.commit().await?;
    let row = row.first().ok_or(ApiError::NotFound)?;
    Ok(Lane {
        id,
        seq: row.first().map_or(0, Val::int),
        checkpoint: row.get(1).and_then(Val::opt_text),
    })
}

/// Renews the lease on `lane` and claims up to a batch of unclaimed submissions into it;
/// returns the lane's claimed, unfolded submissions (a batch at most). `None`: the lane
/// is no longer this replica's.
async fn claim(
    state: &AppState,
    study: &str,
    lane: &str,
    me: &str,
) -> ApiResult<Option<Vec<Vec<Val>>>> {
    let until = now().saturating_add(state.config.study_lease_secs);
    let batch = i64::try_from(state.config.study_batch.clamp(1, 256)).unwrap_or(16);
    let mut c = state.db.conn().await?;
    c.begin().await?;
    let renewed = c
        .exec(RENEW_LEASE, &[until.into(), lane.into(), me.into()])
        .await?;
    if renewed == 0 {
        c.rollback().await?;
        return Ok(None);
    }
    let held = c
        .query(
            "SELECT COUNT(*) FROM study_submissions WHERE lane = ?1 AND state = 'accepted'",
            &[lane.into()],
            1,
        )
        .await?
        .first()
        .and_then(|r| r.first())
        .map_or(0, Val::int);
    if held < batch {
        let lock = skip_locked(&c);
        let free = c.query(
            &format!("SELECT id FROM study_submissions WHERE study = ?1 AND state = 'accepted' AND lane IS NULL ORDER BY created_at, id LIMIT ?2{lock}"),
            &[study.into(), batch.saturating_sub(held).into()],
            1,
        ).await?;
        for r in &free {
            let sid = r.first().cloned().unwrap_or(Val::Null);
            c.exec(
                "UPDATE study_submissions SET lane = ?1 WHERE id = ?2 AND lane IS NULL",
                &[lane.into(), sid],
            )
            .await?;
        }
    }
    c.commit().await?;
    let rows = state.db.query(
        &format!("SELECT {SUB_COLS} FROM study_submissions WHERE lane = ?1 AND state = 'accepted' ORDER BY created_at, id LIMIT ?2"),
        &[lane.into(), batch.into()],
        9,
    ).await?;
    Ok(Some(rows))
}

/// Renews this replica's lease on `lane` every third of the lease while a batch folds.
async fn renew_lease(state: AppState, lane: String, me: String) {
    let lease = state.config.study_lease_secs;
    let every = Duration::from_secs(u64::try_from((lease / 3).max(1)).unwrap_or(1));
    loop {
        tokio::time::sleep(every).await;
        let until = now().saturating_add(lease);
        if let Err(e) = state
            .db
            .exec(
                RENEW_LEASE,
                &[until.into(), lane.as_str().into(), me.as_str().into()],
            )
            .await
        {
            tracing::warn!(error = ?e, "cannot renew the lease on a study lane");
        }
    }
}

type BatchOutcome = (Vec<String>, Vec<(String, String)>, Vec<u8>);

/// A claimed submission and its object's bytes.
struct Claimed {
    id: String,
    patient: String,
    bytes: Vec<u8>,
    /// Whether the bytes are those whose proof was checked at completion (their digest
    /// matches); `None` for a submission accepted before digests were kept, whose proof
    /// is checked again.
    same_as_checked: Option<bool>,
}

/// Why a submission whose object changed after its proof was checked is refused.
const CHANGED: &str = "the list changed after its proof was checked";

/// The SHA-256 of a proven list (base64), kept when its proof is checked.
fn list_digest(bytes: &[u8]) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        Sha256::digest(bytes),
    )
}

fn fold_batch(l: &mut Loaded, subs: &[Claimed]) -> ApiResult<BatchOutcome> {
    let pool = Arc::clone(&l.pool);
    let agg = &mut l.agg;
    pool.run(|| fold_on_pool(&pool, agg, subs))
}

/// [`fold_batch`] on one of the study's pool threads.
fn fold_on_pool(
    pool: &fhe::KeyedPool,
    agg: &mut Aggregator,
    subs: &[Claimed],
) -> ApiResult<BatchOutcome> {
    let mut ok = Vec::new();
    let mut folded = Vec::new();
    let mut refused = Vec::new();
    let mut todo = Vec::with_capacity(subs.len());
    for c in subs {
        if agg.has_seen(&c.id) {
            // Already in the lane's totals (a crash between checkpoint and commit): just
            // mark it.
            folded.push(c.id.clone());
        } else if c.same_as_checked == Some(false) {
            refused.push((c.id.clone(), CHANGED.to_owned()));
        } else {
            todo.push(fhe::Incoming {
                id: &c.id,
                patient: &c.patient,
                bytes: &c.bytes,
                proof_checked: c.same_as_checked == Some(true),
            });
        }
    }
    for (s, r) in todo.iter().zip(agg.prepare_many(pool, &todo)) {
        match r {
            Ok(e) => {
                ok.push(e);
                folded.push(s.id.to_owned());
            }
            Err(e) => refused.push((s.id.to_owned(), e.to_string())),
        }
    }
    agg.fold(ok)?;
    Ok((folded, refused, agg.checkpoint()?))
}

/// Where the worker's server key comes from: the previous study's (training rounds
/// share keys) or the stored compressed key.
enum ServerKeySource {
    Decompressed(Arc<fhe::KeyedPool>),
    Compressed(Vec<u8>),
}

/// The study's server key: the one in memory when it is the study's (training rounds
/// share keys), else the stored compressed key.
async fn server_key_source(
    state: &AppState,
    study: &str,
    keys: &str,
    reuse: Option<(String, Arc<fhe::KeyedPool>)>,
) -> ApiResult<ServerKeySource> {
    Ok(match reuse {
        Some((k, pool)) if k == keys => ServerKeySource::Decompressed(pool),
        _ => ServerKeySource::Compressed(read_artifact(state, study, "server-key").await?),
    })
}

/// The pool of threads holding the study's server key (decompressed here when it is
/// not the previous study's). Runs on a blocking thread.
fn install(server: ServerKeySource) -> ApiResult<Arc<fhe::KeyedPool>> {
    Ok(match server {
        ServerKeySource::Decompressed(pool) => pool,
        ServerKeySource::Compressed(bytes) => Arc::new(fhe::KeyedPool::decompress(
            &fhe::server_key_from_bytes(&bytes)?,
        )?),
    })
}

async fn load_aggregator(
    state: &AppState,
    study: &Study,
    lane: &Lane,
    reuse: Option<(String, Arc<fhe::KeyedPool>)>,
) -> ApiResult<Loaded> {
    let p = params(state, &study.id).await?;
    let keys = key_study(state, &study.id).await?;
    let server = server_key_source(state, &study.id, &keys, reuse).await?;
    let ckpt = match &lane.checkpoint {
        Some(k) => Some(state.store.get(k, MAX_STATE_BYTES).await?),
        None => None,
    };
    let spec = study.spec.clone();
    let (lane_id, seq) = (lane.id.clone(), lane.seq);
    tokio::task::spawn_blocking(move || -> ApiResult<Loaded> {
        let pool = install(server)?;
        let agg = pool.run(|| match ckpt {
            Some(b) => Aggregator::restore(spec, p.public.clone(), p.crs.clone(), &b),
            None => Aggregator::new(spec, p.public.clone(), p.crs.clone()),
        })?;
        Ok(Loaded {
            lane: lane_id,
            keys,
            pool,
            agg,
            seq,
        })
    })
    .await
    .map_err(blocking_err)?
}

/// Merges every lane's partial aggregate and writes the encrypted release (with
/// central noise where declared). Runs when the release was asked for and nothing is
/// left to fold, so every lane's checkpoint is final.
async fn write_release(
    state: &AppState,
    study: &Study,
    reuse: Option<(String, Arc<fhe::KeyedPool>)>,
) -> ApiResult<()> {
    let key = artifact_key(&study.id, "release", None);
    // A release written by an attempt whose commit was lost stands (one release only).
    let size = match state.store.size(&key).await? {
        Some(size) => size,
        None => {
            let lanes = state.db.query(
                "SELECT checkpoint_key FROM study_lanes WHERE study = ?1 AND checkpoint_key IS NOT NULL ORDER BY created_at, id",
                &[study.id.as_str().into()],
                1,
            ).await?;
            let mut parts = Vec::with_capacity(lanes.len());
            for r in &lanes {
                let k = r.first().map(Val::text).unwrap_or_default();
                parts.push(state.store.get(&k, MAX_STATE_BYTES).await?);
            }
            let p = params(state, &study.id).await?;
            let keys = key_study(state, &study.id).await?;
            let server = server_key_source(state, &study.id, &keys, reuse).await?;
            let noise = study.spec.central_noise(&mut rand_core::OsRng)?;
            let spec = study.spec.clone();
            let metrics = state.metrics.clone();
            let bytes = tokio::task::spawn_blocking(move || -> ApiResult<Vec<u8>> {
                install(server)?.run(|| {
                    let mut agg = Aggregator::new(spec.clone(), p.public.clone(), p.crs.clone())?;
                    for b in &parts {
                        let timer = std::time::Instant::now();
                        let part =
                            Aggregator::restore(spec.clone(), p.public.clone(), p.crs.clone(), b)?;
                        agg.merge(&part)?;
                        metrics.record_study("merge", timer.elapsed().as_secs_f64());
                    }
                    let timer = std::time::Instant::now();
                    let out = agg.release(noise.as_deref())?.to_bytes()?;
                    metrics.record_study("release", timer.elapsed().as_secs_f64());
                    Ok(out)
                })
            })
            .await
            .map_err(blocking_err)??;
            let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            state.store.put(&key, bytes).await?;
            size
        }
    };
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let t = now();
    let n = state.db.transaction(&[
        (
            "UPDATE studies SET state = 'released', released_at = ?1 WHERE id = ?2 AND state = 'open'",
            &[t.into(), study.id.as_str().into()],
        ),
        (
            "INSERT INTO study_artifacts (study, kind, object_key, size, state, expires_at) VALUES (?1, 'release', ?2, ?3, 'complete', 0)",
            &[study.id.as_str().into(), key.into(), size.into()],
        ),
    ]).await?;
    if n.first() == Some(&1) {
        audit_relay(
            state,
            "study-release",
            "allowed",
            &format!("{}: {} submissions", study.id, study.folded),
        )
        .await;
    }
    Ok(())
}

async fn audit_relay(state: &AppState, action: &str, outcome: &str, detail: &str) {
    let e = crate::audit::AuditEvent {
        actor: "relay".into(),
        role: "relay".into(),
        action: action.into(),
        patient: None,
        outcome: outcome.into(),
        detail: detail.into(),
    };
    if let Err(err) = crate::audit::append(&state.db, &state.alerts, &e).await {
        tracing::error!(error = ?err, action, "audit append failed");
    }
}
