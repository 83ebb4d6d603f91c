//! A node's own clock: simulated (or real) time seen through a per-node
//! offset and rate, so a nemesis can bump, strobe and drift each node's
//! clock independently. Every node timer reads this clock, never tokio's.
//!
//! Local time is monotonic: a backwards bump does not make time run
//! backwards (which no real monotonic clock does); it freezes the node's
//! time until the underlying clock catches up, so its timers fire late.
//! That, and forward bumps firing timers early, is what skew does to a
//! node's elections and leases.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// A cheap-to-clone handle; clones share the same skew.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Mutex<Skew>>,
}

#[derive(Debug)]
struct Skew {
    /// Where local time 0 sits in tokio's time.
    origin: Instant,
    /// Local time (ms, fractional) at `anchor`.
    local_at_anchor: f64,
    anchor: Instant,
    /// Local ms per real ms.
    rate: f64,
    strobe: Option<Strobe>,
    /// The largest local time handed out, for monotonicity.
    high_water: u64,
}

/// Alternate the offset between 0 and `delta_ms` every `period_ms` of real
/// time until `until`.
#[derive(Clone, Copy, Debug)]
struct Strobe {
    delta_ms: i64,
    period_ms: u64,
    start: Instant,
    until: Instant,
}

impl Skew {
    fn raw_ms(&self, now: Instant) -> f64 {
        let real = now.saturating_duration_since(self.anchor).as_secs_f64() * 1000.0;
        let mut local = self.local_at_anchor + real * self.rate;
        if let Some(s) = self.strobe {
            if now < s.until {
                let phase = now.saturating_duration_since(s.start).as_millis() as u64 / s.period_ms;
                if phase.is_multiple_of(2) {
                    local += s.delta_ms as f64;
                }
            }
        }
        local
    }

    fn now_ms(&mut self, now: Instant) -> u64 {
        let raw = self.raw_ms(now).max(0.0) as u64;
        self.high_water = self.high_water.max(raw);
        self.high_water
    }

    /// Re-base so a change of rate applies from `now` on.
    fn reanchor(&mut self, now: Instant) {
        let real = now.saturating_duration_since(self.anchor).as_secs_f64() * 1000.0;
        self.local_at_anchor += real * self.rate;
        self.anchor = now;
    }
}

/// Rates outside this range are refused: a stopped or reversed clock is
/// not skew, and huge rates turn every timer into a busy loop.
pub const MIN_RATE: f64 = 0.01;
pub const MAX_RATE: f64 = 100.0;

impl Clock {
    /// A clock that reads 0 now and runs at the rate of tokio's clock.
    pub fn new() -> Clock {
        let now = Instant::now();
        Clock {
            inner: Arc::new(Mutex::new(Skew {
                origin: now,
                local_at_anchor: 0.0,
                anchor: now,
                rate: 1.0,
                strobe: None,
                high_water: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Skew> {
        // A poisoned lock only means another holder panicked mid-update of
        // plain numbers; the values are still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Local milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.lock().now_ms(Instant::now())
    }

    /// Jump local time by `delta_ms` (negative: backwards, which freezes it
    /// until the underlying clock catches up).
    pub fn bump(&self, delta_ms: i64) {
        let mut s = self.lock();
        s.local_at_anchor += delta_ms as f64;
    }

    /// Run at `rate` local ms per real ms from now on (drift).
    pub fn set_rate(&self, rate: f64) -> Result<(), String> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(format!(
                "clock rate {rate} outside [{MIN_RATE}, {MAX_RATE}]"
            ));
        }
        let mut s = self.lock();
        let now = Instant::now();
        s.reanchor(now);
        s.rate = rate;
        Ok(())
    }

    /// Flip the clock between +`delta_ms` and its base every `period_ms` for
    /// `duration`.
    pub fn strobe(&self, delta_ms: i64, period_ms: u64, duration: Duration) -> Result<(), String> {
        if period_ms == 0 {
            return Err("strobe period must be positive".into());
        }
        let now = Instant::now();
        self.lock().strobe = Some(Strobe {
            delta_ms,
            period_ms,
            start: now,
            until: now + duration,
        });
        Ok(())
    }

    /// Remove all skew: local time is again tokio's time since the clock
    /// was made (still never earlier than what was already handed out).
    pub fn reset(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        let origin = s.origin;
        s.anchor = now;
        s.local_at_anchor = now.saturating_duration_since(origin).as_secs_f64() * 1000.0;
        s.rate = 1.0;
        s.strobe = None;
    }

    /// The current rate.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// How long tokio's clock must run for local time to advance `local_ms`.
    pub fn real_duration(&self, local_ms: u64) -> Duration {
        let rate = self.lock().rate;
        Duration::from_secs_f64(local_ms as f64 / rate / 1000.0)
    }

    /// Sleep until local time reaches `deadline_ms` (re-checking after each
    /// wake, since the clock may have been skewed meanwhile).
    pub async fn sleep_until_local(&self, deadline_ms: u64) {
        loop {
            let now = self.now_ms();
            if now >= deadline_ms {
                return;
            }
            // At least 1 ms: a frozen clock must not spin.
            let wait = self
                .real_duration(deadline_ms - now)
                .max(Duration::from_millis(1));
            tokio::time::sleep(wait).await;
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_time() {
        let c = Clock::new();
        assert_eq!(c.now_ms(), 0);
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(c.now_ms(), 250);
    }

    #[tokio::test(start_paused = true)]
    async fn bump_forward_and_backward_stays_monotonic() {
        let c = Clock::new();
        tokio::time::advance(Duration::from_millis(100)).await;
        c.bump(1000);
        assert_eq!(c.now_ms(), 1100);
        c.bump(-600);
        // Frozen at 1100 until the underlying clock catches up.
        assert_eq!(c.now_ms(), 1100);
        tokio::time::advance(Duration::from_millis(550)).await;
        assert_eq!(c.now_ms(), 1100);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(c.now_ms(), 1150);
    }

    #[tokio::test(start_paused = true)]
    async fn drift_changes_rate_from_now_on() {
        let c = Clock::new();
        tokio::time::advance(Duration::from_millis(100)).await;
        c.set_rate(2.0).unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(c.now_ms(), 300);
        c.set_rate(0.5).unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(c.now_ms(), 350);
        assert!(c.set_rate(0.0).is_err());
        assert!(c.set_rate(f64::NAN).is_err());
        c.reset();
        assert_eq!(c.now_ms(), 350, "reset never goes back");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(c.now_ms(), 400);
    }

    #[tokio::test(start_paused = true)]
    async fn strobe_alternates_then_stops() {
        let c = Clock::new();
        c.strobe(500, 10, Duration::from_millis(40)).unwrap();
        assert_eq!(c.now_ms(), 500);
        tokio::time::advance(Duration::from_millis(45)).await;
        // Strobe over: base time, but never below what was handed out.
        assert_eq!(c.now_ms(), 500);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(c.now_ms(), 545);
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_until_local_respects_rate() {
        let c = Clock::new();
        c.set_rate(4.0).unwrap();
        let start = Instant::now();
        c.sleep_until_local(400).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert!(c.now_ms() >= 400);
    }
}
