//! A free loopback port for a server a test starts; also used by
//! `tests/tests/relay_aws.rs` (by path), so both pick ports the same way.

/// A free loopback port below Linux's ephemeral range (32768–60999), so that no
/// outgoing connection can hold it and a probe of it can never connect to itself
/// (a connect to a port in the ephemeral range that nothing listens on can, rarely,
/// be given that same port as its source and succeed: TCP's simultaneous open).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    // Separate test binaries start at different places; one binary counts on.
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let port = LOW + (start + n) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN);
}
