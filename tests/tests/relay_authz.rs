//! Authorization matrix: every endpoint × every actor (patient on own or another's
//! resources, clinician with and without a grant, operator, anonymous). The expected
//! outcome of each cell is computed from the policy below — generated, not
//! hand-picked — and every cell is exercised against a live relay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk;
use phiveil_tests::relay::{record_context, Client, TestRelay};
use reqwest::StatusCode;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// alice, on alice's resources.
    PatientOwn,
    /// bob, on alice's resources.
    PatientOther,
    /// dr-lee, who holds alice's vitals grant.
    ClinicianGranted,
    /// dr-kim, who holds no grant.
    ClinicianUngranted,
    Operator,
    Anonymous,
}

const ACTORS: [Actor; 6] = [
    Actor::PatientOwn,
    Actor::PatientOther,
    Actor::ClinicianGranted,
    Actor::ClinicianUngranted,
    Actor::Operator,
    Actor::Anonymous,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    DataKey,
    Unwrap,
    CreateRecord,
    ListRecords,
    GetRecord,
    ListGrants,
    AddGrant,
    RevokeGrant,
    Invite,
    CreateUser,
    AuditQuery,
    AuditVerify,
    Alerts,
}

const ENDPOINTS: [Endpoint; 13] = [
    Endpoint::DataKey,
    Endpoint::Unwrap,
    Endpoint::CreateRecord,
    Endpoint::ListRecords,
    Endpoint::GetRecord,
    Endpoint::ListGrants,
    Endpoint::AddGrant,
    Endpoint::RevokeGrant,
    Endpoint::Invite,
    Endpoint::CreateUser,
    Endpoint::AuditQuery,
    Endpoint::AuditVerify,
    Endpoint::Alerts,
];

/// The policy, from the design's trust model.
fn allowed(e: Endpoint, a: Actor) -> bool {
    use Actor::*;
    use Endpoint::*;
    let data_reader = matches!(a, PatientOwn | ClinicianGranted);
    match e {
        // Data and keys of alice's vitals: alice herself, or a clinician under a grant.
        DataKey | Unwrap | CreateRecord | GetRecord | ListRecords => data_reader,
        // Grants concern the caller's own data (patients) or what they hold (clinicians).
        ListGrants => matches!(
            a,
            PatientOwn | PatientOther | ClinicianGranted | ClinicianUngranted
        ),
        AddGrant | RevokeGrant => matches!(a, PatientOwn | PatientOther),
        Invite => matches!(a, ClinicianGranted | ClinicianUngranted),
        CreateUser | AuditQuery | AuditVerify | Alerts => a == Operator,
    }
}

struct World {
    alice: Client,
    bob: Client,
    dr: Client,
    kim: Client,
    op: Client,
    anon: Client,
    record_id: String,
    message: Vec<u8>,
}

impl World {
    fn client(&self, a: Actor) -> &Client {
        match a {
            Actor::PatientOwn => &self.alice,
            Actor::PatientOther => &self.bob,
            Actor::ClinicianGranted => &self.dr,
            Actor::ClinicianUngranted => &self.kim,
            Actor::Operator => &self.op,
            Actor::Anonymous => &self.anon,
        }
    }
}

async fn call(w: &World, e: Endpoint, a: Actor, n: usize) -> bool {
    let c = w.client(a);
    let alice = w.alice.pseudonym.clone().unwrap();
    let ctx = record_context(&alice, "vitals");
    let status = match e {
        Endpoint::DataKey => c.post("/v1/keys/data-key", &json!({ "context": ctx })).await.0,
        Endpoint::Unwrap => {
            let hl = esdk::Header::parse(&w.message, &Default::default()).unwrap().1;
            c.post("/v1/keys/unwrap", &json!({"header": B64.encode(&w.message[..hl])}))
                .await
                .0
        }
        Endpoint::CreateRecord => {
            c.post(
                "/v1/records",
                &json!({"patient": alice, "record_type": "vitals", "size": 10, "content_type": "application/octet-stream"}),
            )
            .await
            .0
        }
        Endpoint::ListRecords => {
            let (s, body) = c.get(&format!("/v1/records?patient={alice}")).await;
            // A listing is "allowed" when it shows alice's vitals record.
            if s.is_success() && body.as_array().is_some_and(|a| a.iter().any(|r| r["id"] == w.record_id.as_str())) {
                StatusCode::OK
            } else if s.is_success() {
                StatusCode::FORBIDDEN
            } else {
                s
            }
        }
        Endpoint::GetRecord => c.get(&format!("/v1/records/{}", w.record_id)).await.0,
        Endpoint::ListGrants => c.get("/v1/grants").await.0,
        Endpoint::AddGrant => {
            c.post("/v1/grants", &json!({"clinician_id": w.kim.user_id, "record_type": format!("t{n}")}))
                .await
                .0
        }
        Endpoint::RevokeGrant => {
            // Grant first (as the same caller, if it may), then revoke.
            let _ = c
                .post("/v1/grants", &json!({"clinician_id": w.kim.user_id, "record_type": format!("r{n}")}))
                .await;
            c.delete(&format!("/v1/grants/{}/r{n}", w.kim.user_id)).await.0
        }
        Endpoint::Invite => c.post("/v1/invitations", &json!({})).await.0,
        Endpoint::CreateUser => {
            c.post(
                "/v1/users",
                &json!({"username": format!("u{n}"), "password": "correct horse battery", "role": "clinician"}),
            )
            .await
            .0
        }
        Endpoint::AuditQuery => c.get("/v1/audit?limit=5").await.0,
        Endpoint::AuditVerify => c.get("/v1/audit/verify").await.0,
        Endpoint::Alerts => {
            let mut rb = c.http.get(format!("{}/v1/alerts/stream", c.base));
            if let Some(t) = &c.token {
                rb = rb.bearer_auth(t);
            }
            rb.send().await.unwrap().status()
        }
    };
    if a == Actor::Anonymous {
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{e:?} without credentials"
        );
    }
    assert!(
        status.is_success()
            || matches!(
                status,
                StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND
            ),
        "{e:?} as {a:?}: unexpected {status}"
    );
    status.is_success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    matrix(TestRelay::start(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_on_postgres() {
    if let Some(relay) = TestRelay::start_pg(|_| {}).await {
        matrix(relay).await;
    }
}

async fn matrix(relay: TestRelay) {
    let (op, dr, alice) = relay.cast().await;
    let bob = relay.enroll(&dr, "bob").await;
    let (s, _) = op
        .post("/v1/users", &json!({"username": "dr-kim", "password": "correct horse battery", "role": "clinician"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let kim = relay
        .anonymous()
        .login("dr-kim", "correct horse battery")
        .await;
    let ps = alice.pseudonym.clone().unwrap();
    let ctx = record_context(&ps, "vitals");
    let message = alice.encrypt(&ctx, b"hr 70").await;
    let (_, rec) = alice
        .post("/v1/records", &json!({"record_type": "vitals", "size": message.len(), "content_type": "application/octet-stream"}))
        .await;
    assert!(alice
        .presigned_put(&rec["upload"], message.clone(), "application/octet-stream")
        .await
        .is_success());
    let (s, _) = alice
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr.user_id, "record_type": "vitals"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let w = World {
        alice,
        bob,
        dr,
        kim,
        op,
        anon: relay.anonymous(),
        record_id: rec["record"]["id"].as_str().unwrap().to_owned(),
        message,
    };
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (i, e) in ENDPOINTS.iter().enumerate() {
        for (j, a) in ACTORS.iter().enumerate() {
            let got = call(&w, *e, *a, i * 10 + j).await;
            if got != allowed(*e, *a) {
                wrong.push(format!(
                    "{e:?} as {a:?}: expected {}, got {}",
                    allowed(*e, *a),
                    got
                ));
            }
            cells += 1;
        }
    }
    assert_eq!(cells, ENDPOINTS.len() * ACTORS.len());
    assert!(
        wrong.is_empty(),
        "authorization matrix mismatches:\n{}",
        wrong.join("\n")
    );
}
