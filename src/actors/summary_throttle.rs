//! The one rate rule for `job_summary` frames (docs/reference/CORE-API.md, "The scan-result
//! stream", and R-2): per job and stream, a frame at once when the job's status changed, at most
//! one every [`SPACING`] (4 per second) on other changes, coalesced to the latest, and the
//! announcement of the job's end always, at once and exactly once.
//!
//! A plain struct, not an actor: its owner, the Broadcaster's fan-out task, offers it frames and
//! asks it for the ones that came due, so the decision is made once per process for every stream
//! that receives the same sequence. It is applied there, after the event bus, because only there
//! does it see the summaries that every process publishes for a job.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::model::JobStatus;

/// Minimum spacing of a job's summary frames on one stream, status changes and the end aside.
pub const SPACING: Duration = Duration::from_millis(250);
/// A job whose frames stopped this long ago is forgotten (its end stays announced until then).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// One summary offered to the rule: the job's status and whether it announces the job's end.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    pub status: JobStatus,
    pub announces_end: bool,
}

struct JobState<T> {
    last_sent: Instant,
    last_status: JobStatus,
    /// The latest frame held back by the spacing, and when it is due.
    pending: Option<(T, Instant)>,
    end_announced: bool,
    touched: Instant,
}

/// The rule's state for every (stream class, job) key it has seen. `T` is the frame.
pub struct SummaryThrottle<K, T> {
    jobs: HashMap<K, JobState<T>>,
}

impl<K: Hash + Eq + Clone, T> Default for SummaryThrottle<K, T> {
    fn default() -> Self {
        Self { jobs: HashMap::new() }
    }
}

impl<K: Hash + Eq + Clone, T> SummaryThrottle<K, T> {
    /// Offers a frame for `key` at `now`: `Some` to send it at once, `None` when it is held
    /// back (to come out of [`Self::take_due`], replaced by any later frame) or dropped (a repeated
    /// announcement of an end already announced).
    pub fn offer(&mut self, key: &K, offer: Offer, frame: T, now: Instant) -> Option<T> {
        let Some(st) = self.jobs.get_mut(key) else {
            self.jobs.insert(
                key.clone(),
                JobState {
                    last_sent: now,
                    last_status: offer.status,
                    pending: None,
                    end_announced: offer.announces_end || offer.status.is_terminal(),
                    touched: now,
                },
            );
            return Some(frame);
        };
        st.touched = now;
        if offer.announces_end && st.end_announced {
            return None;
        }
        let first_end = (offer.announces_end || offer.status.is_terminal()) && !st.end_announced;
        let due = now.saturating_duration_since(st.last_sent) >= SPACING;
        if first_end || offer.status != st.last_status || due {
            st.end_announced |= first_end;
            st.last_sent = now;
            st.last_status = offer.status;
            st.pending = None;
            return Some(frame);
        }
        st.pending = Some((frame, st.last_sent + SPACING));
        None
    }

    /// When the earliest held frame comes due.
    pub fn next_due(&self) -> Option<Instant> {
        self.jobs
            .values()
            .filter_map(|s| s.pending.as_ref().map(|(_, d)| *d))
            .min()
    }

    /// The held frames due at `now`, to send; forgets jobs quiet for long.
    pub fn take_due(&mut self, now: Instant) -> Vec<(K, T)> {
        let mut due = Vec::new();
        for (k, st) in &mut self.jobs {
            if st.pending.as_ref().is_some_and(|(_, d)| *d <= now)
                && let Some((frame, _)) = st.pending.take()
            {
                st.last_sent = now;
                due.push((k.clone(), frame));
            }
        }
        self.jobs
            .retain(|_, s| s.pending.is_some() || now.saturating_duration_since(s.touched) < FORGET_AFTER);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: Offer = Offer {
        status: JobStatus::Running,
        announces_end: false,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn counter_changes_are_spaced_and_coalesced_to_the_latest() {
        let mut t = SummaryThrottle::default();
        let t0 = Instant::now();
        assert_eq!(t.offer(&"j", RUNNING, 1, t0), Some(1));
        assert_eq!(t.offer(&"j", RUNNING, 2, t0 + ms(10)), None);
        assert_eq!(t.offer(&"j", RUNNING, 3, t0 + ms(100)), None);
        assert_eq!(t.next_due(), Some(t0 + SPACING));
        assert!(t.take_due(t0 + ms(249)).is_empty());
        assert_eq!(t.take_due(t0 + SPACING), vec![("j", 3)], "only the latest");
        assert_eq!(t.next_due(), None);
        // The flush counts as a send: the next change waits for its own window.
        assert_eq!(t.offer(&"j", RUNNING, 4, t0 + ms(300)), None);
        assert_eq!(t.offer(&"j", RUNNING, 5, t0 + ms(600)), Some(5));
    }

    #[test]
    fn at_most_four_frames_a_second_for_a_flood_of_changes() {
        let mut t = SummaryThrottle::default();
        let t0 = Instant::now();
        let mut sent = 0;
        for i in 0..1000u64 {
            let now = t0 + ms(i);
            sent += t.take_due(now).len();
            sent += usize::from(t.offer(&"j", RUNNING, i, now).is_some());
        }
        sent += t.take_due(t0 + ms(1250)).len();
        assert!((4..=5).contains(&sent), "{sent} frames for 1 s of changes");
    }

    #[test]
    fn a_status_change_goes_at_once_and_replaces_the_held_frame() {
        let mut t = SummaryThrottle::default();
        let t0 = Instant::now();
        t.offer(&"j", RUNNING, "a", t0);
        assert_eq!(t.offer(&"j", RUNNING, "b", t0 + ms(10)), None);
        let paused = Offer {
            status: JobStatus::Paused,
            announces_end: false,
        };
        assert_eq!(t.offer(&"j", paused, "paused", t0 + ms(20)), Some("paused"));
        assert!(t.take_due(t0 + ms(500)).is_empty(), "the held counters are superseded");
    }

    #[test]
    fn the_end_is_announced_at_once_and_exactly_once() {
        let mut t = SummaryThrottle::default();
        let t0 = Instant::now();
        let end = Offer {
            status: JobStatus::Completed,
            announces_end: true,
        };
        t.offer(&"j", RUNNING, "r", t0);
        assert_eq!(t.offer(&"j", end, "end", t0 + ms(1)), Some("end"));
        assert_eq!(t.offer(&"j", end, "end again", t0 + ms(900)), None);
        // Later figures of the finished job are ordinary updates.
        let after = Offer {
            status: JobStatus::Completed,
            announces_end: false,
        };
        assert_eq!(t.offer(&"j", after, "late", t0 + ms(2)), None);
        assert_eq!(t.take_due(t0 + ms(251)), vec![("j", "late")]);
        // A frame with a terminal status seen first counts as the announcement.
        assert_eq!(t.offer(&"k", after, "first", t0), Some("first"));
        assert_eq!(t.offer(&"k", end, "end", t0 + ms(1)), None);
    }

    #[test]
    fn jobs_are_independent_and_forgotten_when_quiet() {
        let mut t = SummaryThrottle::default();
        let t0 = Instant::now();
        assert_eq!(t.offer(&"a", RUNNING, 1, t0), Some(1));
        assert_eq!(t.offer(&"b", RUNNING, 2, t0), Some(2));
        t.take_due(t0 + FORGET_AFTER);
        assert!(t.jobs.is_empty());
    }
}
