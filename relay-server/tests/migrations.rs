//! Schema migrations: a database made by a release before versioned migrations
//! (the schema in `fixtures/schema-before-migrations.sql`, with rows in it) upgrades
//! in place on SQLite and on PostgreSQL, keeps its rows and its audit chain, and a
//! database newer than the relay is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use argon2::password_hash::{PasswordHasher, SaltString};
use phiveil_relay::audit::{self, Alerts, AuditEvent};
use phiveil_relay::db::{Db, SCHEMA_VERSION};
use sha2::{Digest, Sha256};

const OLD_SCHEMA: &str = include_str!("fixtures/schema-before-migrations.sql");
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The documented row hash: SHA-256 over the JSON array
/// `[seq, ts, actor, role, action, patient, outcome, detail, prev_hash]`, hex.
fn row_hash(seq: i64, ts: i64, e: &AuditEvent, prev: &str) -> String {
    let canon = serde_json::json!([
        seq, ts, e.actor, e.role, e.action, e.patient, e.outcome, e.detail, prev
    ]);
    Sha256::digest(canon.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rows an older release would have written: a patient with a password, a complete
/// record, a grant target, and one audit row chained from the genesis hash.
fn old_rows() -> String {
    let salt = SaltString::encode_b64(b"migration-test-salt").unwrap();
    let hash = argon2::Argon2::default()
        .hash_password(b"an old password that still works", &salt)
        .unwrap()
        .to_string();
    let e = AuditEvent {
        actor: "u-old".into(),
        role: "patient".into(),
        action: "login".into(),
        patient: Some("p-old".into()),
        outcome: "allowed".into(),
        detail: String::new(),
    };
    let h = row_hash(1, 1_700_000_000, &e, GENESIS);
    format!(
        "INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES ('u-old', 'old-pat', 'patient', '{hash}', 'p-old', 1700000000);
         INSERT INTO users (id, username, role, pw_hash, pseudonym, created_at) VALUES ('u-doc', 'old-doc', 'clinician', NULL, NULL, 1700000000);
         INSERT INTO grants (patient, clinician_id, record_type, created_at) VALUES ('p-old', 'u-doc', 'notes', 1700000000);
         INSERT INTO records (id, patient, record_type, object_key, content_type, size, state, created_at, expires_at, completed_at)
           VALUES ('r-old', 'p-old', 'notes', 'patients/p-old/notes/r-old', 'application/octet-stream', 123, 'complete', 1700000000, 1700000900, 1700000010);
         INSERT INTO audit (seq, ts, actor, role, action, patient, outcome, detail, prev_hash, hash)
           VALUES (1, 1700000000, 'u-old', 'patient', 'login', 'p-old', 'allowed', '', '{GENESIS}', '{h}');
         INSERT INTO studies (id, owner, title, spec, state, folded, checkpoint_seq, checkpoint_key, release_requested, created_at)
           VALUES ('s-old', 'u-doc', 'Old study', '{{}}', 'open', 1, 4, 'studies/s-old/checkpoint-4-abc.bin', 0, 1700000000);
         INSERT INTO study_submissions (id, study, patient, object_key, size, state, created_at, expires_at)
           VALUES ('q-old', 's-old', 'p-old', 'studies/s-old/submissions/q-old.bin', 10, 'folded', 1700000000, 1700000900);"
    )
}

/// What must hold after the upgrade, on either backend.
async fn check_upgraded(db: &Db) {
    assert_eq!(db.schema_version().await.unwrap(), SCHEMA_VERSION);
    let user = db.user_by_name("old-pat").await.unwrap().expect("old user");
    assert_eq!(user.pseudonym.as_deref(), Some("p-old"));
    let records = db.records("p-old", Some("notes")).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].size, 123);
    assert!(db.has_grant("p-old", "u-doc", "notes").await.unwrap());
    let v = audit::verify(db).await.unwrap();
    assert_eq!((v.rows, v.first_broken), (1, None), "{v:?}");
    // New rows chain onto the old ones.
    let alerts = Alerts::new();
    let e = AuditEvent {
        actor: "u-doc".into(),
        role: "clinician".into(),
        action: "list-records".into(),
        patient: Some("p-old".into()),
        outcome: "allowed".into(),
        detail: String::new(),
    };
    audit::append(db, &alerts, &e).await.unwrap();
    let v = audit::verify(db).await.unwrap();
    assert_eq!((v.rows, v.first_broken), (2, None), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_database_from_before_migrations_upgrades_in_place() {
    let dir = common::temp_dir("migrate-sqlite");
    let path = dir.join("relay.sqlite3");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(OLD_SCHEMA).unwrap();
        c.execute_batch(&old_rows()).unwrap();
    }
    let db = Db::open(&path).await.unwrap();
    check_upgraded(&db).await;
    drop(db);
    // Opening again applies nothing twice.
    let db = Db::open(&path).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), SCHEMA_VERSION);
    let v = audit::verify(&db).await.unwrap();
    assert_eq!((v.rows, v.first_broken), (2, None));
    drop(db);
    let c = rusqlite::Connection::open(&path).unwrap();
    let applied: i64 = c
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(applied, SCHEMA_VERSION);
    // Migration 2's index is there.
    let index: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'records_pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
    // Migration 3: the study's checkpoint is its first lane, lapsed, ready to be taken.
    let lane: (String, i64, String, i64, i64) = c
        .query_row(
            "SELECT id, seq, checkpoint_key, folded, lease_until FROM study_lanes WHERE study = 's-old'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        lane,
        (
            "lane-s-old".into(),
            4,
            "studies/s-old/checkpoint-4-abc.bin".into(),
            1,
            0
        )
    );
    // The relay's own login works against the upgraded file (a real process).
    drop(c);
    let port = common::free_port();
    let mut relay = common::start(&dir, None, port, false);
    let http = common::http_client();
    let res = http
        .post(format!("http://127.0.0.1:{port}/v1/auth/login"))
        .json(&serde_json::json!({"username": "old-pat", "password": "an old password that still works"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    relay.kill().unwrap();
    let _ = relay.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_newer_than_the_relay_is_refused() {
    let dir = common::temp_dir("migrate-newer");
    let path = dir.join("relay.sqlite3");
    drop(Db::open(&path).await.unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'from-the-future', 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    }
    let err = Db::open(&path).await.unwrap_err();
    assert!(
        format!("{err:?}").contains("newer than this relay"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_from_before_migrations_upgrades_in_place() {
    let Some(url) = common::pg_database("migrate-pg").await else {
        return;
    };
    {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        // What the previous release's PostgreSQL store ran: the same text, BIGINT.
        c.batch_execute(&OLD_SCHEMA.replace("INTEGER", "BIGINT"))
            .await
            .unwrap();
        c.batch_execute(&old_rows()).await.unwrap();
    }
    let db = Db::connect_postgres(&url).await.unwrap();
    check_upgraded(&db).await;
    drop(db);
    let db = Db::connect_postgres(&url).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), SCHEMA_VERSION);
    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let applied: i64 = c
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, SCHEMA_VERSION);
    let index: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'records_pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let lane = c
        .query_one(
            "SELECT id, seq, checkpoint_key, folded FROM study_lanes WHERE study = 's-old'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(lane.get::<_, String>(0), "lane-s-old");
    assert_eq!(lane.get::<_, i64>(1), 4);
    assert_eq!(lane.get::<_, i64>(3), 1);
    assert_eq!(index, 1);
}
