//! Federated training studies: rounds of DP-SGD updates summed under TFHE.
//!
//! A clinician declares a training (`POST /v1/trainings`: model, rounds, clients, DP-SGD
//! settings, target ε and δ). The relay creates the study of its first round, whose keys
//! the owner's ceremony sets through the study endpoints (`/v1/studies/{id}/keys`,
//! `/open`); every later round is a study of its own (its proofs are bound to its id, so
//! an update cannot be replayed in another round) that uses those same keys.
//!
//! Each round: the owner publishes the model (`POST /v1/trainings/{id}/model`); clients
//! read it (`GET /v1/trainings/{id}`), compute their DP-SGD update in their browser and
//! submit it as a proven list to the round's study (`/v1/studies/{round}/submissions`:
//! one per client, proofs checked at completion); the owner asks for the round's release
//! (`/v1/studies/{round}/release`, refused below `min_clients`), the aggregation worker
//! folds the updates homomorphically and releases the encrypted sum, the owner decrypts
//! it in the browser, takes the FedAvg step, evaluates the new model on its held-out
//! split and publishes it with the figures — which opens the next round.
//!
//! The relay keeps the Rényi-DP accountant: the round just released is charged with the
//! noise it actually carries (the number of updates folded), and a round is opened only
//! if its worst case (`min_clients` updates) keeps ε within the target — otherwise the
//! publication is refused (409) and nothing changes; the owner publishes the final model
//! with `last`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use phiveil_core::dp::RdpAccountant;
use phiveil_core::fl::{Evaluation, TrainingConfig};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Caller;
use crate::db::Val;
use crate::error::{ApiError, ApiResult};
use crate::handler::{audited, json_body, random_id};
use crate::{now, AppState};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(self::get, cancel))
        .routes(routes!(publish))
}

/// Most trainings a list returns.
const MAX_LIST: i64 = 200;

/// A training as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Training {
    /// Relay-assigned id.
    pub id: String,
    /// The owner's user id.
    pub owner: String,
    /// Title.
    pub title: String,
    /// What the owner declared.
    pub config: TrainingConfig,
    /// `running` or `done`.
    pub state: String,
    /// The round open now (0 before the first model is published).
    pub round: u32,
    /// The study whose keys every round uses (round 1's study).
    pub key_study: String,
    /// The study of the round open now, if any.
    pub current_study: Option<String>,
    /// ε spent (rounds released and charged).
    pub epsilon: f64,
    /// ε after all planned rounds in their worst case.
    pub planned_epsilon: f64,
    /// ε after one more worst-case round, when another round may be opened.
    pub next_round_epsilon: Option<f64>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// When the final model was published.
    pub finished_at: Option<i64>,
    /// The rounds opened so far.
    pub rounds: Vec<Round>,
    /// Every published model's figures, in order (the training curves).
    pub metrics: Vec<Metrics>,
    /// The latest model's weights (features, then the bias); in a single training's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
}

/// One round.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Round {
    /// Round number (from 1).
    pub round: u32,
    /// Its study.
    pub study: String,
    /// The study's state (`open` or `released`).
    pub state: String,
    /// Updates folded into the encrypted sum.
    pub folded: u64,
    /// Updates accepted and not yet folded.
    pub queued: u64,
}

/// The figures of one published model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Metrics {
    /// Rounds the model has been trained for.
    pub after_round: u32,
    /// The owner's evaluation on its held-out split.
    pub evaluation: Option<Evaluation>,
    /// ε spent by then.
    pub epsilon: f64,
    /// The effective noise multiplier of that round (none for the initial model).
    pub sigma: Option<f64>,
    /// Updates summed in that round.
    pub folded: u64,
    /// Publication time (Unix seconds).
    pub created_at: i64,
}

const COLS: &str =
    "id, owner, title, config, state, round, key_study, accountant, created_at, finished_at";

fn float(v: &Val) -> Option<f64> {
    v.opt_text().and_then(|t| t.parse().ok())
}

async fn load_row(state: &AppState, row: &[Val], with_weights: bool) -> ApiResult<Training> {
    let get = |i: usize| row.get(i).cloned().unwrap_or(Val::Null);
    let internal = |e: serde_json::Error| ApiError::Internal(format!("stored training: {e}"));
    let config: TrainingConfig = serde_json::from_str(&get(3).text()).map_err(internal)?;
    let acc: RdpAccountant = serde_json::from_str(&get(7).text()).map_err(internal)?;
    let id = get(0).text();
    let round = u32::try_from(get(5).int()).unwrap_or(0);
    let rounds = state
        .db
        .query(
            "SELECT r.round, r.study, s.state, s.folded, (SELECT COUNT(*) FROM study_submissions q WHERE q.study = s.id AND q.state = 'accepted') FROM training_rounds r JOIN studies s ON s.id = r.study WHERE r.training = ?1 ORDER BY r.round",
            &[id.as_str().into()],
            5,
        ).await?
        .iter()
        .map(|r| {
            let g = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
            Round {
                round: u32::try_from(g(0).int()).unwrap_or(0),
                study: g(1).text(),
                state: g(2).text(),
                folded: u64::try_from(g(3).int()).unwrap_or(0),
                queued: u64::try_from(g(4).int()).unwrap_or(0),
            }
        })
        .collect::<Vec<_>>();
    let models = state.db.query(
        "SELECT after_round, evaluation, epsilon, sigma, folded, created_at, weights FROM training_models WHERE training = ?1 ORDER BY after_round",
        &[id.as_str().into()],
        7,
    ).await?;
    let metrics = models
        .iter()
        .map(|r| {
            let g = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
            Metrics {
                after_round: u32::try_from(g(0).int()).unwrap_or(0),
                evaluation: g(1).opt_text().and_then(|t| serde_json::from_str(&t).ok()),
                epsilon: float(&g(2)).unwrap_or(0.0),
                sigma: float(&g(3)),
                folded: u64::try_from(g(4).int()).unwrap_or(0),
                created_at: g(5).int(),
            }
        })
        .collect();
    let weights = if with_weights {
        models
            .last()
            .and_then(|r| r.get(6))
            .and_then(Val::opt_text)
            .map(|t| serde_json::from_str(&t).map_err(internal))
            .transpose()?
    } else {
        None
    };
    let st = get(4).text();
    let current_study = rounds
        .iter()
        .find(|r| r.round == round && st == "running")
        .map(|r| r.study.clone());
    Ok(Training {
        owner: get(1).text(),
        title: get(2).text(),
        planned_epsilon: config.planned_epsilon()?,
        next_round_epsilon: if st == "running" {
            config.check_next_round(&acc).ok()
        } else {
            None
        },
        epsilon: acc.epsilon(),
        config,
        state: st,
        round,
        key_study: get(6).text(),
        current_study,
        created_at: get(8).int(),
        finished_at: match get(9) {
            Val::Int(t) => Some(t),
            _ => None,
        },
        rounds,
        metrics,
        weights,
        id,
    })
}

async fn load(state: &AppState, id: &str, with_weights: bool) -> ApiResult<Option<Training>> {
    let rows = state
        .db
        .query(
            &format!("SELECT {COLS} FROM trainings WHERE id = ?1"),
            &[id.into()],
            10,
        )
        .await?;
    match rows.first() {
        Some(r) => Ok(Some(load_row(state, r, with_weights).await?)),
        None => Ok(None),
    }
}

/// A training's declaration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TrainingDeclaration {
    /// Title (1-200 characters).
    title: String,
    /// Model, rounds, clients, DP-SGD settings, target ε and δ.
    config: TrainingConfig,
}

/// Declares a federated training and creates round 1's study for the key ceremony
/// (clinician).
#[utoipa::path(post, path = "/v1/trainings", tag = "trainings", operation_id = "create_training", security(("bearer" = [])),
    request_body = TrainingDeclaration, responses((status = 201, description = "The training", body = Training)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let t = audited(&state, Some(c), "training-create", None, async || {
        if c.role != "clinician" {
            return Err(ApiError::Forbidden("only clinicians own trainings".into()));
        }
        let req: TrainingDeclaration = json_body(&body)?;
        let title = req.title.trim();
        crate::studies::check_title(title)?;
        req.config.validate()?;
        let id = random_id("tr-", 10);
        let study = random_id("st-", 10);
        let spec = to_json(&req.config.round_spec(&study))?;
        let config = to_json(&req.config)?;
        let acc = to_json(&req.config.accountant()?)?;
        let at = now();
        state.db.transaction(&[
            (
                crate::studies::INSERT_STUDY,
                &[study.as_str().into(), c.sub.as_str().into(), format!("{title} · round 1").into(), spec.into(), "keys-pending".into(), at.into()],
            ),
            (
                "INSERT INTO trainings (id, owner, title, config, state, round, key_study, accountant, created_at) VALUES (?1, ?2, ?3, ?4, 'running', 0, ?5, ?6, ?7)",
                &[id.as_str().into(), c.sub.as_str().into(), title.into(), config.into(), study.into(), acc.into(), at.into()],
            ),
        ]).await?;
        load(&state, &id, true).await?.ok_or(ApiError::NotFound)
    }).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Federated trainings, newest first, with their rounds, ε and training curves.
#[utoipa::path(get, path = "/v1/trainings", tag = "trainings", operation_id = "list_trainings", security(("bearer" = [])),
    responses((status = 200, description = "Trainings", body = Vec<Training>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<Training>>> {
    let rows = state
        .db
        .query(
            &format!("SELECT {COLS} FROM trainings ORDER BY created_at DESC, id LIMIT ?1"),
            &[MAX_LIST.into()],
            10,
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(load_row(&state, r, false).await?);
    }
    Ok(Json(out))
}

/// One training: state, rounds, training curves and the latest model.
#[utoipa::path(get, path = "/v1/trainings/{id}", tag = "trainings", operation_id = "get_training", security(("bearer" = [])),
    params(("id" = String, Path, description = "Training id")), responses((status = 200, description = "The training", body = Training)))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Training>> {
    load(&state, &id, true)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// The owner cancels a training.
///
/// One whose key study never opened (its key ceremony failed or was abandoned) is removed with that
/// study; any other running one stops now (`done`, its published models and curves
/// kept; no further round opens). Audited `training-cancel`.
#[utoipa::path(delete, path = "/v1/trainings/{id}", tag = "trainings", operation_id = "cancel_training", security(("bearer" = [])),
    params(("id" = String, Path, description = "Training id")), responses((status = 204, description = "Cancelled or stopped")))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let c = &caller.0;
    let t = load(&state, &id, false).await?;
    audited(&state, Some(c), "training-cancel", None, async || {
        let t = t.ok_or(ApiError::NotFound)?;
        if c.role != "clinician" || c.sub != t.owner {
            return Err(ApiError::Forbidden(
                "only the training's owner may do this".into(),
            ));
        }
        if t.state != "running" {
            return Err(ApiError::Conflict("the training has ended".into()));
        }
        let tid = [Val::from(id.as_str())];
        let key = [Val::from(t.key_study.as_str())];
        // Removed only while its key study never opened (the guard), so nothing a
        // site sent is removed; otherwise stopped.
        let removed = state.db.transaction(&[
                (
                    "UPDATE trainings SET state = 'running' WHERE id = ?1 AND round = 0 AND state = 'running' AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.id = trainings.key_study AND s.state <> 'keys-pending') AND NOT EXISTS (SELECT 1 FROM training_rounds r WHERE r.training = trainings.id)",
                    &tid,
                ),
                ("DELETE FROM training_models WHERE training = ?1", &tid),
                ("DELETE FROM trainings WHERE id = ?1", &tid),
                ("DELETE FROM study_artifacts WHERE study = ?1", &key),
                ("DELETE FROM studies WHERE id = ?1", &key),
            ]).await?;
        if removed.first() == Some(&1) {
            return Ok(StatusCode::NO_CONTENT);
        }
        let stopped = state.db.transaction(&[(
            "UPDATE trainings SET state = 'done', finished_at = ?2 WHERE id = ?1 AND state = 'running'",
            &[id.as_str().into(), now().into()],
        )]).await?;
        if stopped.first() != Some(&1) {
            return Err(ApiError::Conflict(
                "the training changed meanwhile; reload and try again".into(),
            ));
        }
        Ok(StatusCode::NO_CONTENT)
    }).await
}

/// A published model.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ModelReq {
    /// The weights (features, then the bias).
    weights: Vec<f64>,
    /// The owner's evaluation on its held-out split.
    #[serde(default)]
    evaluation: Option<Evaluation>,
    /// The final model: no further round opens.
    #[serde(default)]
    last: bool,
}

/// Publishes the model after the released round with its evaluation (owner).
///
/// Charges the round just released and opens the next one unless `last` or the planned
/// rounds are done; refused (409) when the next round would pass the target ε.
#[utoipa::path(post, path = "/v1/trainings/{id}/model", tag = "trainings", security(("bearer" = [])), params(("id" = String, Path, description = "Training id")),
    request_body = ModelReq, responses((status = 200, description = "The training", body = Training)))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Training>> {
    let c = &caller.0;
    let t = load(&state, &id, false).await?;
    let t = audited(&state, Some(c), "training-model", None, async || {
        let t = t.ok_or(ApiError::NotFound)?;
        if c.role != "clinician" || c.sub != t.owner {
            return Err(ApiError::Forbidden(
                "only the training's owner may do this".into(),
            ));
        }
        if t.state != "running" {
            return Err(ApiError::Conflict("the training is finished".into()));
        }
        let req: ModelReq = json_body(&body)?;
        t.config.check_model(&req.weights)?;
        if let Some(e) = &req.evaluation {
            e.validate()?;
        }
        publish_inner(&state, &t, &req).await?;
        load(&state, &id, true).await?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(Json(t))
}

async fn publish_inner(state: &AppState, t: &Training, req: &ModelReq) -> ApiResult<()> {
    let cfg = &t.config;
    let stored = state
        .db
        .query(
            "SELECT accountant FROM trainings WHERE id = ?1",
            &[t.id.as_str().into()],
            1,
        )
        .await?;
    let mut acc: RdpAccountant = stored
        .first()
        .and_then(|r| r.first())
        .map(|v| serde_json::from_str(&v.text()))
        .transpose()
        .map_err(|e| ApiError::Internal(format!("stored accountant: {e}")))?
        .ok_or(ApiError::NotFound)?;
    if t.round == 0 {
        // A study never goes back from open: checking before the transaction holds.
        let open = state
            .db
            .query(
                "SELECT 1 FROM studies WHERE id = ?1 AND state = 'open'",
                &[t.key_study.as_str().into()],
                1,
            )
            .await?;
        if open.is_empty() {
            return Err(ApiError::Conflict(
                "the training's keys are not set: run the key ceremony and open round 1's study first".into(),
            ));
        }
    }
    // Charge the round just released with the noise it carries.
    let (sigma, folded) = match t.rounds.iter().find(|r| r.round == t.round) {
        None => (None, 0),
        Some(r) if r.state != "released" => {
            return Err(ApiError::Conflict(format!(
                "round {} is not released yet",
                r.round
            )))
        }
        Some(r) => {
            let s = cfg.effective_sigma(r.folded);
            acc.charge(cfg.sample_rate, s, 1).map_err(|_| {
                ApiError::Internal("a released round exceeded the checked budget".into())
            })?;
            (Some(s), r.folded)
        }
    };
    let last = req.last || t.round >= cfg.rounds;
    if !last {
        if let Err(e) = cfg.check_next_round(&acc) {
            let after = acc
                .epsilon_after(cfg.sample_rate, cfg.worst_case_sigma(), 1)
                .unwrap_or(f64::INFINITY);
            return Err(ApiError::Conflict(format!(
                "round {} would take ε to {after:.3}, past the target {} ({}); publish this model with \"last\": true",
                t.round.saturating_add(1),
                cfg.target_epsilon,
                e.code()
            )));
        }
    }
    let acc_json = to_json(&acc)?;
    let weights = to_json(&req.weights)?;
    let evaluation = req.evaluation.as_ref().map(to_json).transpose()?;
    let at = now();
    let round = i64::from(t.round);
    let next = round.saturating_add(1);
    let model_args = [
        t.id.as_str().into(),
        round.into(),
        weights.into(),
        evaluation.map_or(Val::Null, Val::from),
        acc.epsilon().to_string().into(),
        sigma.map_or(Val::Null, |s| s.to_string().into()),
        i64::try_from(folded).unwrap_or(i64::MAX).into(),
        at.into(),
    ];
    const MODEL: &str = "INSERT INTO training_models (training, after_round, weights, evaluation, epsilon, sigma, folded, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    let counts = if last {
        state.db.transaction(&[
            (
                "UPDATE trainings SET state = 'done', accountant = ?1, finished_at = ?2 WHERE id = ?3 AND round = ?4 AND state = 'running'",
                &[acc_json.into(), at.into(), t.id.as_str().into(), round.into()],
            ),
            (MODEL, &model_args),
        ]).await?
    } else {
        // Round 1 is the key study; every later round a new study under its keys.
        let study = if t.round == 0 {
            t.key_study.clone()
        } else {
            random_id("st-", 10)
        };
        let spec = to_json(&cfg.round_spec(&study))?;
        let mut stmts: Vec<(&str, Vec<Val>)> = vec![
            (
                "UPDATE trainings SET round = ?1, accountant = ?2 WHERE id = ?3 AND round = ?4 AND state = 'running'",
                vec![next.into(), acc_json.into(), t.id.as_str().into(), round.into()],
            ),
            (MODEL, model_args.to_vec()),
        ];
        if t.round > 0 {
            stmts.push((
                crate::studies::INSERT_STUDY,
                vec![
                    study.as_str().into(),
                    t.owner.as_str().into(),
                    format!("{} · round {next}", t.title).into(),
                    spec.into(),
                    "open".into(),
                    at.into(),
                ],
            ));
        }
        stmts.push((
            "INSERT INTO training_rounds (training, round, study, created_at) VALUES (?1, ?2, ?3, ?4)",
            vec![t.id.as_str().into(), next.into(), study.as_str().into(), at.into()],
        ));
        let refs: Vec<(&str, &[Val])> = stmts.iter().map(|(q, a)| (*q, a.as_slice())).collect();
        state.db.transaction(&refs).await?
    };
    if counts.first() != Some(&1) {
        return Err(ApiError::Conflict("the training moved on meanwhile".into()));
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> ApiResult<String> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(format!("json: {e}")))
}
