//! The audit chain under concurrent appends (committed in batches): every append
//! that reports success is in the chain exactly once, the chain verifies, and an
//! append that fails (its pending record duplicates another) fails alone, leaving
//! the rest of its batch in place. On SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::sync::Arc;

use phiveil_relay::audit::{self, Alerts, AuditEvent, AuditQuery};
use phiveil_relay::db::{Db, Record};
use phiveil_relay::error::ApiError;

fn record(id: &str) -> Record {
    Record {
        id: id.into(),
        patient: "p-chain".into(),
        record_type: "notes".into(),
        object_key: format!("patients/p-chain/notes/{id}"),
        content_type: "application/octet-stream".into(),
        size: 10,
        state: "pending".into(),
        created_at: 1_700_000_000,
        expires_at: 4_000_000_000,
    }
}

async fn hammer(db: Db) {
    let db = Arc::new(db);
    let alerts = Arc::new(Alerts::new());
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (db, alerts) = (db.clone(), alerts.clone());
        tasks.push(tokio::spawn(async move {
            let e = AuditEvent {
                actor: format!("u-{i}"),
                role: "patient".into(),
                action: "upload-url".into(),
                patient: Some("p-chain".into()),
                outcome: "allowed".into(),
                detail: String::new(),
            };
            // Every 10th append reuses a record id: only the first of each such
            // pair may commit.
            let id = if i % 10 == 0 {
                "r-dup".to_owned()
            } else {
                format!("r-{i}")
            };
            audit::append_pending(&db, &alerts, &e, Some(&record(&id))).await
        }));
    }
    let mut ok = 0u64;
    let mut conflicts = 0u64;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(ApiError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (271, 29));
    let v = audit::verify(&db).await.unwrap();
    assert_eq!((v.rows, v.first_broken), (ok, None), "{v:?}");
    let rows = audit::query(
        &db,
        &AuditQuery {
            limit: Some(1000),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut actors: Vec<_> = rows.iter().map(|r| r.event.actor.clone()).collect();
    actors.sort();
    actors.dedup();
    assert_eq!(actors.len() as u64, ok, "each success appears exactly once");
    // Each committed audit row has its pending record, and no refused one left any.
    for i in 0..300 {
        if i % 10 != 0 {
            assert!(db.record(&format!("r-{i}")).await.unwrap().is_some());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_sqlite_form_one_verified_chain() {
    let dir = common::temp_dir("chain-sqlite");
    hammer(Db::open(&dir.join("relay.sqlite3")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_postgres_form_one_verified_chain() {
    let Some(url) = common::pg_database("chain-pg").await else {
        return;
    };
    hammer(Db::connect_postgres(&url).await.unwrap()).await;
}
