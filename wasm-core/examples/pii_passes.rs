//! Times the strict redactor's passes over notes (JSON Lines with a `text` field on
//! stdin), for profiling: builds `Redactor::new(Policy::strict())`, makes a warm-up pass
//! (over the same notes, or over the notes of the file named by the second argument:
//! other notes, or one empty note for a redactor's first pass), then `REPS` passes in
//! `measured_passes`, the function a profiler can single out:
//!
//! `cargo run --release -p phiveil-core --example pii_passes -- [REPS] [WARMUP.jsonl] < notes.jsonl`
//!
//! `valgrind --tool=callgrind --toggle-collect='*measured_passes*' …` counts the
//! instructions of the measured passes alone. Prints findings and throughput to stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::time::Instant;

use phiveil_core::pii::{Policy, Redactor};

/// The notes' `text` fields, one JSON object per line.
fn texts(lines: impl Iterator<Item = String>) -> Vec<String> {
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l).expect("a line is JSON");
            v.get("text")
                .and_then(serde_json::Value::as_str)
                .expect("a text field")
                .to_owned()
        })
        .collect()
}

/// `reps` passes of `redactor` over `notes`: the findings counted.
#[inline(never)]
fn measured_passes(redactor: &Redactor, notes: &[String], reps: usize) -> usize {
    (0..reps)
        .map(|_| {
            notes
                .iter()
                .map(|t| redactor.analyze(t).len())
                .sum::<usize>()
        })
        .sum()
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .map_or(1, |a| a.parse().expect("REPS is a number"));
    let notes = texts(std::io::stdin().lock().lines().map(|l| l.expect("stdin")));
    let warmup = match std::env::args().nth(2) {
        Some(path) => texts(
            std::fs::read_to_string(path)
                .expect("the warm-up file")
                .lines()
                .map(str::to_owned),
        ),
        None => notes.clone(),
    };
    let redactor = Redactor::new(Policy::strict()).expect("the strict policy");
    let warm: usize = warmup.iter().map(|t| redactor.analyze(t).len()).sum();
    let started = Instant::now();
    let found = measured_passes(&redactor, &notes, reps);
    let seconds = started.elapsed().as_secs_f64();
    let bytes = notes
        .iter()
        .map(String::len)
        .sum::<usize>()
        .saturating_mul(reps);
    eprintln!(
        "warm-up: {warm} findings; {reps} pass(es) over {} notes: {found} findings, {:.0} KB/s (native, one thread)",
        notes.len(),
        bytes as f64 / 1024.0 / seconds
    );
}
