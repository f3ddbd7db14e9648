//! In-process event bus (embedded backend): one broadcast channel per process.
//!
//! Subscribers are the process's Broadcaster (superlog is fed where results are recorded, not
//! from the bus, so a shared bus never makes two processes report one result); a subscriber that falls more
//! than the channel capacity behind loses the oldest events and is told how many (counted by the
//! receiver), which never slows publishers.

use tokio::sync::broadcast;

use super::{BusEvent, EventBus};

/// Events buffered per subscriber before the oldest are dropped.
const CAPACITY: usize = 16_384;

pub struct LocalBus {
    tx: broadcast::Sender<BusEvent>,
}

impl LocalBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for LocalBus {
    fn publish(&self, ev: BusEvent) {
        // No subscriber yet is fine: events are best effort (docs/reference/CORE-API.md,
        // "Redis channels").
        let _ = self.tx.send(ev);
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }
}
