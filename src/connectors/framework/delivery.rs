//! Which delivery of an event source a webhook call or queue message is, so a re-delivery of the
//! same events lands in the same job (docs/reference/CONNECTORS.md, "Webhook endpoint").
//!
//! Event Grid, SNS, Pub/Sub and SQS all deliver at least once: a sender that gave up waiting
//! (Event Grid after 30 s) sends the same events again while our first handler may still be
//! retrying the core. A fresh job id per call would give the second call new idempotency keys,
//! and the core would enqueue the objects twice. The job id of a delivery is therefore derived
//! from the ids the event source gave its events: the second call's scan requests carry the same
//! keys, and the core replays the first answer instead of enqueuing again (keys are kept 24 h,
//! as long as Event Grid retries). A body without event ids (the original service's
//! `{"blob": name}` form) is a new job each time: two such calls may be two writes of one object.

use sha2::{Digest, Sha256};

use crate::model::ConnectorUuid;

/// The event ids of one delivery, in the order the source sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryId {
    source: &'static str,
    ids: Vec<String>,
}

impl DeliveryId {
    /// The delivery of the events with `ids`, from event source `source` (e.g. `eventgrid`);
    /// `None` when the delivery is empty or any event lacks an id.
    pub fn of_events<'a>(source: &'static str, ids: impl IntoIterator<Item = Option<&'a str>>) -> Option<Self> {
        let ids = ids
            .into_iter()
            .map(|id| id.filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Option<Vec<String>>>()?;
        (!ids.is_empty()).then_some(Self { source, ids })
    }

    /// The job id of this delivery for connector `uuid`: `evt-` and 40 hex digits of a SHA-256 over
    /// the connector, the source and each id (length-prefixed, so no two lists collide).
    pub fn job_id(&self, uuid: &ConnectorUuid) -> String {
        let mut h = Sha256::new();
        for part in [uuid.as_str(), self.source]
            .into_iter()
            .chain(self.ids.iter().map(String::as_str))
        {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = hex::encode(h.finalize());
        format!("evt-{}", &digest[..40])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u8) -> ConnectorUuid {
        ConnectorUuid::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}")).unwrap()
    }

    #[test]
    fn the_same_events_give_the_same_job_and_anything_else_another() {
        let d = DeliveryId::of_events("eventgrid", [Some("a"), Some("b")]).unwrap();
        let again = DeliveryId::of_events("eventgrid", [Some("a"), Some("b")]).unwrap();
        let job = d.job_id(&uuid(1));
        assert_eq!(job, again.job_id(&uuid(1)));
        assert!(job.starts_with("evt-") && job.len() == 44, "{job}");
        assert!(crate::model::JobId::parse(&job).is_ok());
        assert_ne!(job, d.job_id(&uuid(2)), "per connector");
        let others = [
            DeliveryId::of_events("eventgrid", [Some("b"), Some("a")]),
            DeliveryId::of_events("eventgrid", [Some("ab")]),
            DeliveryId::of_events("eventgrid", [Some("a"), Some("b"), Some("c")]),
            DeliveryId::of_events("sqs", [Some("a"), Some("b")]),
        ];
        for o in others {
            assert_ne!(o.unwrap().job_id(&uuid(1)), job);
        }
    }

    #[test]
    fn a_delivery_with_an_event_without_id_has_no_delivery_id() {
        assert_eq!(DeliveryId::of_events("eventgrid", [Some("a"), None]), None);
        assert_eq!(DeliveryId::of_events("eventgrid", [Some("a"), Some("")]), None);
        assert_eq!(
            DeliveryId::of_events("eventgrid", std::iter::empty::<Option<&str>>()),
            None
        );
    }
}
