//! Builds `wasm-core/src/pii/lexicon.fst` from the `word<TAB>flags` table that
//! `scripts/pii/lexicon_sources.py` prints (run through `scripts/pii/build-lexicon.sh`).
//!
//! Usage: `cargo run -p phiveil-core --example build_lexicon -- TABLE.tsv OUT.fst`
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]

use std::io::{BufRead, BufReader, BufWriter};

fn main() {
    let mut args = std::env::args().skip(1);
    let (table, out) = (
        args.next().expect("TABLE.tsv"),
        args.next().expect("OUT.fst"),
    );
    let reader = BufReader::new(std::fs::File::open(table).expect("open the table"));
    let writer = BufWriter::new(std::fs::File::create(&out).expect("create the output"));
    let mut map = fst::MapBuilder::new(writer).expect("fst builder");
    let mut words = 0u64;
    for line in reader.lines() {
        let line = line.expect("read a line");
        let (word, flags) = line.split_once('\t').expect("word<TAB>flags");
        map.insert(word, flags.parse::<u64>().expect("numeric flags"))
            .expect("words in byte order, each once");
        words += 1;
    }
    map.finish().expect("write the fst");
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!("{words} words, {bytes} bytes -> {out}");
}
