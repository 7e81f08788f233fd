//! Runs phiveil's PII detector over a labelled corpus (JSON Lines from
//! `scripts/pii/gen_corpus.py` on stdin) and writes its predictions as JSON Lines on
//! stdout: `{"id": ..., "spans": [{"start", "end", "entity", "confidence"}]}` with offsets
//! in Unicode code points, as the corpus uses. Prints throughput to stderr.
//!
//! `cargo run --release -p phiveil-core --example pii_predict [strict|balanced] < corpus.jsonl > phiveil.jsonl`
//! (the profile defaults to `strict`, the library's default).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use std::io::{BufRead, Write};
use std::time::Instant;

use phiveil_core::pii::{Policy, Redactor};

fn main() {
    let policy = match std::env::args().nth(1).as_deref() {
        None | Some("strict") => Policy::strict(),
        Some("balanced") => Policy::balanced(),
        Some(other) => {
            eprintln!("unknown profile {other:?}: strict or balanced");
            std::process::exit(2);
        }
    };
    let redactor = Redactor::new(policy).expect("policy");
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let notes: Vec<serde_json::Value> = stdin
        .lock()
        .lines()
        .map(|l| serde_json::from_str(&l.expect("read stdin")).expect("corpus line is JSON"))
        .collect();
    let mut bytes = 0usize;
    let started = Instant::now();
    let mut results = Vec::with_capacity(notes.len());
    for note in &notes {
        let text = note["text"].as_str().expect("text");
        bytes += text.len();
        results.push(redactor.analyze(text));
    }
    let elapsed = started.elapsed().as_secs_f64();
    for (note, findings) in notes.iter().zip(results) {
        let text = note["text"].as_str().expect("text");
        let to_char = |byte: usize| text[..byte].chars().count();
        let spans: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "start": to_char(f.start),
                    "end": to_char(f.end),
                    "entity": f.entity.name(),
                    "confidence": f.confidence,
                    "recognizer": f.recognizer,
                })
            })
            .collect();
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"id": note["id"], "spans": spans}),
        )
        .unwrap();
        out.write_all(b"\n").unwrap();
    }
    eprintln!(
        "phiveil: {} notes, {} KB in {:.3} s = {:.0} KB/s (native, one thread, analyze only)",
        notes.len(),
        bytes / 1024,
        elapsed,
        bytes as f64 / 1024.0 / elapsed
    );
}
