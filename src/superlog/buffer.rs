//! The per-destination drop-oldest ring (docs/reference/SUPERLOG.md, "Buffer").
//!
//! A mutex-guarded `VecDeque` with a wake-up signal, not a bounded channel: a full channel would
//! reject the *newest* event, superlog drops the *oldest*. The lock is never held across I/O, so
//! a push costs a lock and a `VecDeque` operation regardless of the destination's state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use super::event::Event;

pub struct Buffer {
    queue: Mutex<VecDeque<(Instant, Arc<Event>)>>,
    capacity: usize,
    wake: Notify,
}

impl Buffer {
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            wake: Notify::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `ev`; when full, first removes and returns the oldest event.
    pub fn push(&self, ev: Arc<Event>) -> Option<Arc<Event>> {
        let dropped = {
            let mut q = self.lock();
            let dropped = if q.len() >= self.capacity {
                q.pop_front().map(|(_, e)| e)
            } else {
                None
            };
            q.push_back((Instant::now(), ev));
            dropped
        };
        self.wake.notify_one();
        dropped
    }

    /// Removes up to `max` events from the head, oldest first.
    pub fn take(&self, max: usize) -> Vec<Arc<Event>> {
        let mut q = self.lock();
        let n = max.min(q.len());
        q.drain(..n).map(|(_, e)| e).collect()
    }

    /// Removes everything (shutdown accounting).
    pub fn drain_all(&self) -> Vec<Arc<Event>> {
        self.lock().drain(..).map(|(_, e)| e).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the oldest queued event arrived.
    pub fn oldest_at(&self) -> Option<Instant> {
        self.lock().front().map(|(t, _)| *t)
    }

    /// Waits until something was pushed since the last wake-up.
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, Arc<Event>)>> {
        // A panic while holding this lock cannot leave the deque half-updated.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::event::fixtures;

    fn ev(n: usize) -> Arc<Event> {
        let mut e = fixtures::benign();
        e.event_id = n.to_string();
        Arc::new(e.into())
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_keeps_the_newest() {
        let b = Buffer::new(100);
        let dropped: Vec<String> = (0..1000)
            .filter_map(|i| b.push(ev(i)))
            .map(|e| e.event_id().to_string())
            .collect();
        assert_eq!(dropped.len(), 900);
        assert_eq!(dropped[0], "0");
        assert_eq!(dropped[899], "899");
        let kept: Vec<String> = b.take(1000).iter().map(|e| e.event_id().to_string()).collect();
        assert_eq!(kept.len(), 100);
        assert_eq!(kept[0], "900");
        assert_eq!(kept[99], "999");
        assert!(b.is_empty());
    }
}
