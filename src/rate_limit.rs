//! Per-address request budgets (HTTP clients, SNMP senders, failed HTTP
//! authentications), bounded in memory.
//!
//! Owns: [`RateLimit`], a keyed GCRA limiter (governor) whose table of
//! addresses is pruned on a timer ([`prune_loop`]) and hard-capped: every
//! `CAP_CHECK_EVERY` checks it looks at its size, forgets idle addresses when
//! over `max_addresses`, and starts afresh if that was not enough (a flood of
//! spoofed one-shot sources has no budget worth keeping). So the table never
//! holds more than `max_addresses + CAP_CHECK_EVERY` addresses, whatever the
//! number of distinct senders. Must not: log per check (callers count).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio_util::sync::CancellationToken;

/// How many checks pass between two looks at the table size.
pub const CAP_CHECK_EVERY: u32 = 64;

/// How often idle addresses are forgotten (cheap: one pass over at most
/// `max_addresses` entries).
pub const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A per-address budget with a bounded address table.
pub struct RateLimit {
    quota: Quota,
    /// Replaced wholesale when pruning cannot bring it under the cap.
    limiter: RwLock<DefaultKeyedRateLimiter<IpAddr>>,
    max_addresses: usize,
    checks: AtomicU32,
    /// Addresses dropped by a reset (their budget started over).
    reset_addresses: AtomicU64,
}

impl RateLimit {
    /// `per_second` sustained, `burst` at once (at least `per_second`),
    /// remembering at most `max_addresses` addresses.
    pub fn new(per_second: u32, burst: u32, max_addresses: usize) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).expect("nonzero");
        let burst = NonZeroU32::new(burst.max(per_second).max(1)).expect("nonzero");
        let quota = Quota::per_second(rate).allow_burst(burst);
        Self {
            quota,
            limiter: RwLock::new(DefaultKeyedRateLimiter::keyed(quota)),
            max_addresses: max_addresses.max(1),
            checks: AtomicU32::new(0),
            reset_addresses: AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `ip` is over its budget.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CAP_CHECK_EVERY)
        {
            self.enforce_cap();
        }
        let limiter = self.limiter.read().unwrap_or_else(|p| p.into_inner());
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Addresses currently remembered.
    pub fn addresses(&self) -> usize {
        self.limiter.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Addresses forgotten by resets since start (their budget started over).
    pub fn reset_addresses(&self) -> u64 {
        self.reset_addresses.load(Ordering::Relaxed)
    }

    /// Forgets idle addresses so the key map does not grow without bound.
    pub fn retain_recent(&self) {
        let limiter = self.limiter.read().unwrap_or_else(|p| p.into_inner());
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    fn enforce_cap(&self) {
        if self.addresses() <= self.max_addresses {
            return;
        }
        self.retain_recent();
        if self.addresses() <= self.max_addresses {
            return;
        }
        let mut limiter = self.limiter.write().unwrap_or_else(|p| p.into_inner());
        let dropped = limiter.len() as u64;
        *limiter = DefaultKeyedRateLimiter::keyed(self.quota);
        self.reset_addresses.fetch_add(dropped, Ordering::Relaxed);
    }
}

/// Forgets idle addresses of every limiter every [`PRUNE_EVERY`], then tells
/// `remembered` how many addresses they still hold together.
pub async fn prune_loop(
    limiters: Vec<Arc<RateLimit>>,
    remembered: impl Fn(usize) + Send,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for limiter in &limiters {
            limiter.retain_recent();
        }
        remembered(limiters.iter().map(|l| l.addresses()).sum());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_wait_and_keeps_addresses_apart() {
        let rl = RateLimit::new(1, 1, 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(rl.check(ip).is_ok());
        let wait = rl.check(ip).unwrap_err();
        assert!(wait >= 1);
        assert!(rl.check("10.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_address_table_never_outgrows_its_cap() {
        // A slow quota keeps every address "recent", so only the reset helps.
        let rl = RateLimit::new(1, 1, 500);
        for i in 0..20_000u32 {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            let _ = rl.check(ip);
            assert!(
                rl.addresses() <= 500 + CAP_CHECK_EVERY as usize,
                "{} addresses after {i} checks",
                rl.addresses()
            );
        }
        assert!(rl.reset_addresses() > 0);
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let rl = RateLimit::new(1_000_000, 1_000_000, 10_000);
        for i in 0..1000u32 {
            let _ = rl.check(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()));
        }
        std::thread::sleep(Duration::from_millis(5));
        rl.retain_recent();
        assert_eq!(rl.addresses(), 0);
    }
}
