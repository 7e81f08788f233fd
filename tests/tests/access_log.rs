//! A patient's access log (the mission issue): every access to the patient's data with
//! who, when and the outcome, each row with its sequence number and hash, checked the
//! way the patient's browser checks it (`phiveil_core::audit_proof`): each row folds
//! through the other rows' digests to a checkpoint the relay signed. An edited row,
//! the newest rows deleted, and a published checkpoint the chain no longer holds are
//! each caught. On SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use phiveil_core::audit_proof::{check_access_log, AccessLog, RowCheck};
use phiveil_core::esdk::context::record_context;
use phiveil_relay::audit;
use phiveil_tests::relay::{Client, TestRelay};
use reqwest::StatusCode;
use serde_json::json;

async fn fetch(c: &Client, since: Option<i64>) -> (AccessLog, serde_json::Value) {
    let path = match since {
        Some(s) => format!("/v1/me/access-log?since={s}"),
        None => "/v1/me/access-log".to_owned(),
    };
    let (s, body) = c.get(&path).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    (serde_json::from_value(body.clone()).unwrap(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_access_log_proves_each_row_and_catches_tampering_on_sqlite() {
    let relay = TestRelay::start(|_| {}).await;
    let db = relay.dir.join("relay.sqlite3");
    flow(&relay, |sql: &str| {
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(sql, [])
            .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_access_log_proves_each_row_and_catches_tampering_on_postgres() {
    let Some(relay) = TestRelay::start_pg(|_| {}).await else {
        return;
    };
    let url = relay.state.config.database_url.clone().unwrap();
    flow(&relay, move |sql: &str| {
        // The synchronous client runs its own runtime: off the test's.
        let (url, sql) = (url.clone(), sql.to_owned());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&sql).unwrap();
        })
        .join()
        .unwrap();
    })
    .await;
}

async fn flow(relay: &TestRelay, tamper: impl Fn(&str)) {
    let (op, dr, patient) = relay.cast().await;
    let ps = patient.pseudonym.clone().unwrap();
    let (s, _) = patient
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr.user_id, "record_type": "notes"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Enough accesses to fill two checkpoint windows (256 rows each), some refused.
    let ctx = record_context(&ps, "notes");
    let other = record_context(&ps, "labs");
    for i in 0..300 {
        let (s, _) = dr
            .post(
                "/v1/keys/data-key",
                &json!({ "context": if i % 50 == 0 { &other } else { &ctx } }),
            )
            .await;
        assert!(s == StatusCode::OK || s == StatusCode::FORBIDDEN);
    }
    // Only a patient has an access log.
    assert_eq!(dr.get("/v1/me/access-log").await.0, StatusCode::FORBIDDEN);
    assert_eq!(op.get("/v1/me/access-log").await.0, StatusCode::FORBIDDEN);

    let (log, body) = fetch(&patient, None).await;
    let checked = check_access_log(&log, &[], None);
    assert!(checked.alarms.is_empty(), "{:?}", checked.alarms);
    assert_eq!(log.rows.len(), 200, "the newest 200 rows");
    assert!(
        checked
            .rows
            .iter()
            .all(|r| matches!(r, RowCheck::Proven { .. })),
        "{:?}",
        checked.rows.first()
    );
    // Who, what, the outcome, by name.
    let dr_rows: Vec<_> = log
        .rows
        .iter()
        .filter(|r| r.content.actor == dr.user_id)
        .collect();
    assert!(dr_rows
        .iter()
        .any(|r| r.content.action == "data-key" && r.content.outcome == "allowed"));
    assert!(dr_rows.iter().any(|r| r.content.outcome == "refused"));
    assert_eq!(body["names"][&dr.user_id], "dr-lee");
    assert!(
        !checked.remember.is_empty(),
        "a window checkpoint to remember"
    );
    let remembered = checked.remember.clone();
    let fp = checked.key_fingerprint.clone();

    // One of the patient's rows edited in the database: that row is caught.
    let victim = log.rows[100].content.seq;
    tamper(&format!(
        "UPDATE audit SET outcome = 'refused' WHERE seq = {victim}"
    ));
    let (log, _) = fetch(&patient, None).await;
    let checked = check_access_log(&log, &remembered, Some(&fp));
    let at = log
        .rows
        .iter()
        .position(|r| r.content.seq == victim)
        .unwrap();
    assert!(
        matches!(&checked.rows[at], RowCheck::Broken { reason } if reason.contains("edited")),
        "{:?}",
        checked.rows[at]
    );
    tamper(&format!(
        "UPDATE audit SET outcome = 'allowed' WHERE seq = {victim}"
    ));

    // A published checkpoint, then the newest rows deleted: the browser that saw the
    // window checkpoint raises an alarm, and `audit verify --checkpoint` fails.
    let published = audit::checkpoint(&relay.state.db, &relay.state.checkpoint_key)
        .await
        .unwrap()
        .unwrap();
    assert!(
        audit::holds(&relay.state.db, &relay.state.checkpoint_key, &published)
            .await
            .unwrap()
    );
    let cut = remembered.iter().map(|c| c.seq).min().unwrap() - 10;
    tamper(&format!("DELETE FROM audit WHERE seq > {cut}"));
    let (log, _) = fetch(&patient, Some(remembered[0].seq)).await;
    let checked = check_access_log(&log, &remembered, Some(&fp));
    assert!(
        checked
            .alarms
            .iter()
            .any(|a| a.contains("rows were deleted")),
        "{:?}",
        checked.alarms
    );
    assert!(
        !audit::holds(&relay.state.db, &relay.state.checkpoint_key, &published)
            .await
            .unwrap()
    );
}
