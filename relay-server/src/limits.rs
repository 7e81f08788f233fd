//! Every limit and timeout the relay enforces, in one table ([`Limits`]), and the
//! bookkeeping behind the per-user and per-source ones: login throttling
//! ([`LoginThrottle`]) and live-stream slots ([`StreamSlots`]).
//!
//! `docs/api.md` ("Limits") lists the same table; `tests/hostile.rs` drives a relay
//! process into each limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The relay's limits. Defaults suit one relay on a small machine; every field is
/// settable from the command line.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a connection may take to send a request's headers. It also bounds how
    /// long an idle keep-alive connection stays open (waiting for the next request
    /// is waiting for headers, in hyper): long enough that a client whose own work
    /// blocks for a while (a Node process proving a submission for 15 s) does not
    /// find its pooled connection closed under it.
    pub header_read_timeout: Duration,
    /// Time a request may take end to end, body included (`408` after it).
    pub request_timeout: Duration,
    /// Open connections, all sources together (further ones wait in the backlog).
    pub max_connections: usize,
    /// Open connections from one IP address (further ones are closed at once).
    pub max_connections_per_source: usize,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Pending (not yet uploaded) records per patient.
    pub max_pending_records_per_patient: i64,
    /// Unused, unexpired invitations per clinician.
    pub max_open_invitations_per_clinician: i64,
    /// Live event streams (SSE) per user.
    pub max_streams_per_user: usize,
    /// Failed logins for one account before each further failure adds a delay.
    pub login_free_failures_per_account: u32,
    /// Failed logins from one IP address before each further failure adds a delay.
    pub login_free_failures_per_source: u32,
    /// The first delay; each further failure doubles it.
    pub login_backoff_base: Duration,
    /// The longest delay.
    pub login_backoff_max: Duration,
    /// Failures older than this are forgotten.
    pub login_failure_window: Duration,
    /// Password hashes (Argon2id, 19 MiB each) computed at once; the rest queue.
    pub concurrent_password_hashes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_source: 128,
            max_json_bytes: 64 * 1024,
            max_pending_records_per_patient: 64,
            max_open_invitations_per_clinician: 200,
            max_streams_per_user: 4,
            login_free_failures_per_account: 5,
            login_free_failures_per_source: 20,
            login_backoff_base: Duration::from_secs(2),
            login_backoff_max: Duration::from_secs(15 * 60),
            login_failure_window: Duration::from_secs(60 * 60),
            concurrent_password_hashes: std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    last: i64,
    blocked_until: i64,
}

/// Entries kept per map before forgotten ones are swept out.
const MAX_TRACKED: usize = 100_000;

/// Failed-login bookkeeping per account name and per source address, with
/// exponential backoff once the free failures are spent (NIST SP 800-63B §5.2.2
/// rate limiting). Kept per process: with N replicas an attacker gets N times the
/// attempts (still bounded by the backoff).
#[derive(Debug)]
pub struct LoginThrottle {
    limits: Limits,
    accounts: Mutex<HashMap<String, Failures>>,
    sources: Mutex<HashMap<IpAddr, Failures>>,
}

/// What a failed login did to the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Consecutive failures of the account.
    pub account_failures: u32,
    /// Whether this failure spent the account's last free attempt (alert once).
    pub account_now_throttled: bool,
}

impl LoginThrottle {
    /// A throttle with `limits`' login settings.
    pub fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            accounts: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait before `account` may try again from `source` (0: go ahead).
    pub fn wait_secs(&self, account: &str, source: Option<IpAddr>, now: i64) -> i64 {
        let a = self
            .accounts
            .lock()
            .ok()
            .and_then(|m| m.get(account).map(|f| f.blocked_until))
            .unwrap_or(0);
        let s = source
            .and_then(|ip| {
                self.sources
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&ip).map(|f| f.blocked_until))
            })
            .unwrap_or(0);
        a.max(s).saturating_sub(now).max(0)
    }

    fn bump<K: std::hash::Hash + Eq + Clone>(
        &self,
        map: &Mutex<HashMap<K, Failures>>,
        key: &K,
        free: u32,
        now: i64,
    ) -> Failures {
        let window = i64::try_from(self.limits.login_failure_window.as_secs()).unwrap_or(3600);
        let Ok(mut m) = map.lock() else {
            return Failures::default();
        };
        if m.len() >= MAX_TRACKED {
            m.retain(|_, f| now.saturating_sub(f.last) < window || f.blocked_until > now);
            if m.len() >= MAX_TRACKED {
                m.clear();
            }
        }
        let f = m.entry(key.clone()).or_default();
        if now.saturating_sub(f.last) >= window {
            *f = Failures::default();
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count > free {
            let doublings = f.count.saturating_sub(free).saturating_sub(1).min(30);
            let base = self.limits.login_backoff_base.as_secs().max(1);
            let delay = base
                .saturating_mul(1u64 << doublings)
                .min(self.limits.login_backoff_max.as_secs());
            f.blocked_until = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
        }
        *f
    }

    /// Records a failed login.
    pub fn failed(&self, account: &str, source: Option<IpAddr>, now: i64) -> FailureOutcome {
        let free = self.limits.login_free_failures_per_account;
        let a = self.bump(&self.accounts, &account.to_owned(), free, now);
        if let Some(ip) = source {
            self.bump(
                &self.sources,
                &ip,
                self.limits.login_free_failures_per_source,
                now,
            );
        }
        FailureOutcome {
            account_failures: a.count,
            account_now_throttled: a.count == free.saturating_add(1),
        }
    }

    /// Records a successful login: the account's failures are forgotten (the
    /// source's are not, or one valid account would reset a guesser's budget).
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut m) = self.accounts.lock() {
            m.remove(account);
        }
    }
}

/// Live-stream slots per user.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream; the slot is given back when it is dropped (the stream ends).
#[derive(Debug)]
pub struct StreamSlot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl StreamSlots {
    /// Takes a slot for `user`, or `None` when `max` are open.
    pub fn take(&self, user: &str, max: usize) -> Option<StreamSlot> {
        let mut m = self.open.lock().ok()?;
        let n = m.entry(user.to_owned()).or_default();
        if *n >= max {
            return None;
        }
        *n = n.saturating_add(1);
        Some(StreamSlot {
            open: self.open.clone(),
            user: user.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.open.lock() {
            if let Some(n) = m.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_the_free_failures_and_doubles() {
        let limits = Limits::default();
        let t = LoginThrottle::new(&limits);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 1..=5 {
            let o = t.failed("alice", Some(ip), 1000);
            assert_eq!(o.account_failures, i);
            assert!(!o.account_now_throttled);
            assert_eq!(t.wait_secs("alice", Some(ip), 1000), 0);
        }
        assert!(t.failed("alice", Some(ip), 1000).account_now_throttled);
        assert_eq!(t.wait_secs("alice", None, 1000), 2);
        t.failed("alice", None, 1002);
        assert_eq!(t.wait_secs("alice", None, 1002), 4);
        assert_eq!(
            t.wait_secs("bob", None, 1002),
            0,
            "other accounts unaffected"
        );
        t.succeeded("alice");
        assert_eq!(t.wait_secs("alice", None, 1002), 0);
        // The window forgets old failures.
        for _ in 0..6 {
            t.failed("carol", None, 0);
        }
        assert!(t.wait_secs("carol", None, 0) > 0);
        assert_eq!(t.failed("carol", None, 10_000).account_failures, 1);
    }

    #[test]
    fn a_source_is_throttled_across_accounts() {
        let t = LoginThrottle::new(&Limits::default());
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..21 {
            t.failed(&format!("user{i}"), Some(ip), 50);
        }
        assert!(t.wait_secs("someone-else", Some(ip), 50) > 0);
        assert_eq!(t.wait_secs("someone-else", None, 50), 0);
    }

    #[test]
    fn stream_slots_are_bounded_and_given_back() {
        let s = StreamSlots::default();
        let a = s.take("u", 2).unwrap();
        let _b = s.take("u", 2).unwrap();
        assert!(s.take("u", 2).is_none());
        drop(a);
        assert!(s.take("u", 2).is_some());
    }
}
