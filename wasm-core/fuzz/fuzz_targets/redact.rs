//! Fuzzes PII redaction (both profiles) with arbitrary text: no panic, spans in order,
//! on character boundaries and inside the text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phiveil_core::pii::{Policy, Redactor};

fn redactors() -> &'static [Redactor; 2] {
    static R: OnceLock<[Redactor; 2]> = OnceLock::new();
    R.get_or_init(|| {
        [
            Redactor::new(Policy::strict()).expect("strict policy"),
            Redactor::new(Policy::balanced()).expect("balanced policy"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for r in redactors() {
        let out = r.redact(text, None).expect("mask policy never fails");
        let mut last = 0;
        for s in &out.spans {
            assert!(s.start >= last && s.start < s.end && s.end <= text.len());
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            last = s.end;
        }
    }
});
