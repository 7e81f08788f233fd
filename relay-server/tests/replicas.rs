//! Two relay processes on one PostgreSQL database divide one study's aggregation, and
//! one of them is killed (SIGKILL) in the middle of a batch. The other takes the dead
//! replica's lane over once its lease lapses and folds the batch from the lane's last
//! checkpoint: every submission is folded exactly once (the lanes' checkpoints cover
//! disjoint sets whose union is every submission), and the release, merged from the
//! lanes, decrypts to the plaintext totals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_wrap
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{cli, free_port, login, pg_database, post, start_with, temp_dir};
use phiveil_core::fhe::{self, Release, StudySpec};
use serde_json::{json, Value};

/// A relay process, killed (SIGKILL) and reaped when dropped, so a failing test leaves
/// none behind.
struct Relay(Option<std::process::Child>);

impl Relay {
    /// Sends `sig` ("STOP", "CONT") to the process.
    fn signal(&self, sig: &str) {
        let pid = self.0.as_ref().unwrap().id().to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Patients (one submission each); folded two at a time.
const PATIENTS: usize = 14;

fn values(i: usize) -> Vec<i64> {
    let i = i as i64;
    vec![i % 2, 1 + (i * 3) % 5]
}

async fn put(http: &reqwest::Client, base: &str, upload: &Value, bytes: Vec<u8>) {
    let s = http
        .put(format!("{base}{}", upload["url"].as_str().unwrap()))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s.as_u16(), 201, "presigned PUT");
}

async fn get(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the study on `base` until `ok` holds.
async fn wait_study(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let t = Instant::now();
    loop {
        let st = get(http, base, token, &format!("/v1/studies/{id}")).await;
        if ok(&st) {
            return st;
        }
        assert!(t.elapsed() < Duration::from_secs(600), "{what}: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The submission ids a lane checkpoint covers (its header).
fn checkpoint_ids(dir: &Path, key: &str) -> Vec<String> {
    let bytes = std::fs::read(dir.join("objects").join(key)).unwrap();
    let len = u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[9..9 + len]).unwrap();
    serde_json::from_value(header["seen"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_divide_a_study_and_a_replica_killed_mid_batch_loses_nothing() {
    let Some(db) = pg_database("lanes-db").await else {
        return;
    };
    let (pg, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let dir = temp_dir("lanes");
    cli(
        &dir,
        Some(&db),
        &["create-user", "--username", "doc", "--role", "clinician"],
    );
    for i in 0..PATIENTS {
        cli(
            &dir,
            Some(&db),
            &[
                "create-user",
                "--username",
                &format!("p{i}"),
                "--role",
                "patient",
            ],
        );
    }
    // Small batches, so both replicas get batches of one study, and a lease short enough
    // for the takeover to come within the test yet far longer than one HTTP call.
    let scrape = dir.join("metrics.token");
    std::fs::write(&scrape, "phiveil-test-scraper-token").unwrap();
    let scrape = scrape.to_string_lossy().into_owned();
    let args = |name: &'static str| {
        [
            "--study-lease-secs",
            "20",
            "--study-batch",
            "2",
            "--replica-name",
            name,
            "--metrics-token-file",
            scrape.as_str(),
        ]
    };
    let (pa, pb) = (free_port(), free_port());
    let mut ra = Relay(Some(start_with(&dir, Some(&db), pa, false, &args("a"))));
    let mut rb = Relay(Some(start_with(&dir, Some(&db), pb, false, &args("b"))));
    let (a, b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let http = common::http_client();

    // The owner's study and key ceremony (in the test, as the browser would).
    let doc = login(&http, &a, "doc").await;
    let doc = doc["token"].as_str().unwrap().to_owned();
    let study = post(
        &http,
        &a,
        Some(&doc),
        "/v1/studies",
        json!({"title": "Lanes", "min_cohort": PATIENTS, "fields": [
            {"name": "smoker", "lo": 0, "hi": 1},
            {"name": "pain", "lo": 1, "hi": 5, "bins": [3], "at_least": [4]}]}),
    )
    .await;
    let id = study["id"].as_str().unwrap().to_owned();
    let spec: StudySpec = serde_json::from_value(study["spec"].clone()).unwrap();
    let (keys, _) = fhe::key_ceremony(&spec, true, || 0.0).unwrap();
    let crs = keys.crs.clone().unwrap();
    let server = fhe::to_bytes(&keys.server).unwrap();
    let public = fhe::to_bytes(&keys.public).unwrap();
    let crs_bytes = fhe::to_bytes(&crs).unwrap();
    let up = post(
        &http,
        &a,
        Some(&doc),
        &format!("/v1/studies/{id}/keys"),
        json!({"server_key": server.len(), "public_key": public.len(), "crs": crs_bytes.len()}),
    )
    .await;
    put(&http, &a, &up["uploads"]["server-key"], server).await;
    put(&http, &a, &up["uploads"]["public-key"], public).await;
    put(&http, &a, &up["uploads"]["crs"], crs_bytes).await;
    post(
        &http,
        &a,
        Some(&doc),
        &format!("/v1/studies/{id}/open"),
        json!({}),
    )
    .await;
    wait_study(&http, &a, &doc, &id, "open", |s| s["state"] == "open").await;

    // Every patient proves a submission first (client-side), then registers and uploads
    // it on alternate replicas; completions come in phases below.
    let mut subs = Vec::new();
    for i in 0..PATIENTS {
        let base = if i % 2 == 0 { &a } else { &b };
        let session = login(&http, base, &format!("p{i}")).await;
        let token = session["token"].as_str().unwrap().to_owned();
        let me = session["pseudonym"].as_str().unwrap().to_owned();
        let list = fhe::encrypt_submission(
            &spec,
            &keys.public,
            &crs,
            &me,
            &values(i),
            &mut rand_core::OsRng,
        )
        .unwrap();
        let reg = post(
            &http,
            base,
            Some(&token),
            &format!("/v1/studies/{id}/submissions"),
            json!({"size": list.len()}),
        )
        .await;
        put(&http, base, &reg["upload"], list).await;
        let sid = reg["submission"]["id"].as_str().unwrap().to_owned();
        subs.push((token, sid));
    }
    let mut next = subs.into_iter();
    let mut complete = |n: usize, base: String| {
        let batch: Vec<_> = next.by_ref().take(n).collect();
        let (http, id) = (http.clone(), id.clone());
        async move {
            for (token, sid) in batch {
                post(
                    &http,
                    &base,
                    Some(&token),
                    &format!("/v1/studies/{id}/submissions/{sid}/complete"),
                    json!({}),
                )
                .await;
            }
        }
    };
    // Which replica folds what is decided by pausing the other one (SIGSTOP) while a
    // batch waits, never by timing: a paused replica claims nothing. A replica is paused
    // only once its last fold is audited, so it holds no lock another one waits on.
    let folds = |n: i64| {
        let pg = &pg;
        async move {
            let t = Instant::now();
            loop {
                let done: i64 = pg
                    .query_one(
                        "SELECT COUNT(*) FROM audit WHERE action = 'study-fold' AND outcome = 'allowed'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                if done >= n {
                    return;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(600),
                    "fold {n} never came"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let lane_of = |prefix: &'static str| {
        let (pg, id) = (&pg, id.clone());
        async move {
            pg.query(
                "SELECT id FROM study_lanes WHERE study = $1 AND owner LIKE $2",
                &[&id, &format!("{prefix}-%")],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
        }
    };

    // A folds the first batch into a lane of its own (B paused).
    rb.signal("STOP");
    complete(2, a.clone()).await;
    folds(1).await;
    // B folds the second batch while A's lease is live, so B opens a lane of its own
    // rather than adopting A's (the lease is long enough for that to be certain).
    ra.signal("STOP");
    rb.signal("CONT");
    complete(2, b.clone()).await;
    folds(2).await;
    let (lanes_a, lanes_b) = (lane_of("a").await, lane_of("b").await);
    assert_eq!(
        (lanes_a.len(), lanes_b.len()),
        (1, 1),
        "each replica folded into a lane of its own"
    );

    // A claims a third batch (B paused) and is killed (SIGKILL) while it holds it, after
    // its lane's first checkpoint: paused first, so it cannot commit between the check
    // and the kill.
    rb.signal("STOP");
    ra.signal("CONT");
    complete(2, a.clone()).await;
    let killed_lane = lanes_a[0].clone();
    let t = Instant::now();
    loop {
        ra.signal("STOP");
        let held: i64 = pg
            .query_one(
                "SELECT COUNT(*) FROM study_lanes l JOIN study_submissions q ON q.lane = l.id WHERE l.id = $1 AND l.seq >= 1 AND q.state = 'accepted'",
                &[&killed_lane],
            )
            .await
            .unwrap()
            .get(0);
        if held >= 1 {
            ra.kill();
            break;
        }
        ra.signal("CONT");
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "replica A never claimed its third batch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B gets the rest.
    rb.signal("CONT");
    complete(PATIENTS - 6, b.clone()).await;
    let claimed: i64 = pg
        .query_one(
            "SELECT COUNT(*) FROM study_submissions WHERE lane = $1 AND state = 'accepted'",
            &[&killed_lane],
        )
        .await
        .unwrap()
        .get(0);
    assert!(claimed >= 1);

    // B finishes: the dead lane is taken over after its lease and its batch folded.
    wait_study(&http, &b, &doc, &id, "every submission folded on B", |s| {
        s["folded"] == PATIENTS && s["queued"] == 0
    })
    .await;
    let lanes = pg
        .query(
            "SELECT id, owner, folded, checkpoint_key FROM study_lanes WHERE study = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert!(
        lanes.len() >= 2,
        "both replicas folded in lanes of their own"
    );
    let taken: String = lanes
        .iter()
        .find(|r| r.get::<_, String>(0) == killed_lane)
        .unwrap()
        .get(1);
    assert!(
        taken.starts_with("b-"),
        "B took the dead lane over: {taken}"
    );
    let mut covered = BTreeSet::new();
    let mut total = 0i64;
    for r in &lanes {
        let Some(key) = r.get::<_, Option<String>>(3) else {
            continue;
        };
        let ids = checkpoint_ids(&dir, &key);
        assert_eq!(ids.len() as i64, r.get::<_, i64>(2));
        total += r.get::<_, i64>(2);
        for s in ids {
            assert!(covered.insert(s), "a submission in two lanes");
        }
    }
    let folded: BTreeSet<String> = pg
        .query(
            "SELECT id FROM study_submissions WHERE study = $1 AND state = 'folded'",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(folded.len(), PATIENTS);
    assert_eq!(
        covered, folded,
        "the lanes cover exactly the folded submissions"
    );
    assert_eq!(total, PATIENTS as i64);

    // The release merges the lanes; its totals are the plaintext totals.
    post(
        &http,
        &b,
        Some(&doc),
        &format!("/v1/studies/{id}/release"),
        json!({}),
    )
    .await;
    wait_study(&http, &b, &doc, &id, "released", |s| {
        s["state"] == "released"
    })
    .await;
    let url = get(
        &http,
        &b,
        &doc,
        &format!("/v1/studies/{id}/artifacts/release"),
    )
    .await;
    let bytes = http
        .get(format!("{b}{}", url["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let release = Release::from_bytes(&bytes).unwrap();
    assert_eq!(release.count, PATIENTS as u64);
    let results = fhe::decrypt_release(&spec, &keys.client, &release, 0.95).unwrap();
    let rows: Vec<Vec<i64>> = (0..PATIENTS).map(values).collect();
    for (j, r) in results.iter().enumerate() {
        let col: Vec<i64> = rows.iter().map(|v| v[j]).collect();
        assert_eq!(r.sum, col.iter().sum::<i64>(), "{}", spec.fields[j].name);
    }
    let pain = &results[1];
    let low = rows.iter().filter(|v| v[1] < 3).count() as u64;
    assert_eq!(pain.bins, vec![low, PATIENTS as u64 - low]);
    let high = rows.iter().filter(|v| v[1] >= 4).count() as u64;
    assert_eq!(pain.at_least, vec![high]);

    // What each phase of B's batches cost (the figures docs/scaling.md extrapolates).
    let metrics = http
        .get(format!("{b}/metrics"))
        .bearer_auth("phiveil-test-scraper-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // OpenMetrics: `phiveil_study_phase_duration_seconds_{sum,count}{phase="…"} v` and
    // `phiveil_study_checkpoint_bytes_{sum,count} v`.
    let mut phases = std::collections::BTreeMap::<String, (f64, f64)>::new();
    for line in metrics.lines() {
        let (name, value) = match line.split_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (what, phase) =
            if let Some(rest) = name.strip_prefix("phiveil_study_phase_duration_seconds_") {
                match rest.split_once("{phase=\"") {
                    Some((kind, p)) => (kind, p.trim_end_matches("\"}").to_owned()),
                    None => continue,
                }
            } else if let Some(kind) = name.strip_prefix("phiveil_study_checkpoint_bytes_") {
                (kind, "checkpoint bytes".to_owned())
            } else {
                continue;
            };
        let e = phases.entry(phase).or_default();
        match what {
            "sum" => e.0 = value.parse().unwrap(),
            "count" => e.1 = value.parse().unwrap(),
            _ => {}
        }
    }
    for p in ["claim", "fold", "store", "commit", "merge"] {
        assert!(
            phases.get(p).is_some_and(|e| e.1 >= 1.0),
            "{p} measured: {metrics}"
        );
    }
    for (p, (sum, n)) in &phases {
        eprintln!("replica B, study phase {p}: {n} times, mean {:.4}", sum / n);
    }

    // One intact audit chain across both replicas and the kill.
    let out = cli(&dir, Some(&db), &["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
    rb.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
