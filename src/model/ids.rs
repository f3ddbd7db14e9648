//! Identifier newtypes that can only be built valid (docs/reference/CORE-API.md, "Identifiers").
//!
//! Job ids travel in URLs, Redis key names and connector queries, so they are restricted to a
//! URL-safe alphabet; a `:` could otherwise collide with sub-keys such as `…:tasks`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused; the text becomes the `msg` of a 422 entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("job id must be 1-128 characters from [A-Za-z0-9._~-]")]
    BadJobId,
    #[error("input should be a valid UUID")]
    BadUuid,
}

/// A job id: 1–128 characters from `[A-Za-z0-9._~-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::BadJobId)
        }
    }

    /// A fresh UUID4 job id, used when the caller gave none.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<JobId> for String {
    fn from(j: JobId) -> String {
        j.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task id: the lower-case UUID4 the core assigns to every accepted scan request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId(String);

impl TaskId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Task ids are looked up as given; anything that is not a UUID can never exist.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        uuid::Uuid::parse_str(s)
            .map(|u| Self(u.to_string()))
            .map_err(|_| IdError::BadUuid)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TaskId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<TaskId> for String {
    fn from(t: TaskId) -> String {
        t.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Comparisons with plain text, so a check against a literal or a wire field needs no copy.
macro_rules! text_eq {
    ($t:ty) => {
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_eq!(JobId);
text_eq!(TaskId);
text_eq!(ConnectorUuid);

/// A connector's uuid, in the canonical lower-case hyphenated form: a connector may register
/// with any spelling a UUID parser accepts, and is known by this one everywhere after that.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectorUuid(String);

impl ConnectorUuid {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        uuid::Uuid::parse_str(s)
            .map(|u| Self(u.to_string()))
            .map_err(|_| IdError::BadUuid)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<uuid::Uuid> for ConnectorUuid {
    fn from(u: uuid::Uuid) -> Self {
        Self(u.to_string())
    }
}

impl TryFrom<String> for ConnectorUuid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<ConnectorUuid> for String {
    fn from(c: ConnectorUuid) -> String {
        c.0
    }
}

impl fmt::Display for ConnectorUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_accept_the_url_safe_alphabet_only() {
        assert!(JobId::parse("abc-DEF_1.2~x").is_ok());
        assert!(JobId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(JobId::parse(""), Err(IdError::BadJobId));
        assert_eq!(JobId::parse(&"a".repeat(129)), Err(IdError::BadJobId));
        assert_eq!(JobId::parse("a:b"), Err(IdError::BadJobId));
        assert_eq!(JobId::parse("a b"), Err(IdError::BadJobId));
        assert_eq!(JobId::parse("é"), Err(IdError::BadJobId));
    }

    #[test]
    fn task_ids_are_canonical_lower_case_uuids() {
        let t = TaskId::parse("3F0C2B2E-1111-4222-8333-444455556666").unwrap();
        assert_eq!(t.as_str(), "3f0c2b2e-1111-4222-8333-444455556666");
        assert!(TaskId::parse("nope").is_err());
    }

    #[test]
    fn connector_uuids_take_the_canonical_form_and_keep_it_on_the_wire() {
        let c = ConnectorUuid::parse("{3F0C2B2E-1111-4222-8333-444455556666}").unwrap();
        assert_eq!(c, "3f0c2b2e-1111-4222-8333-444455556666");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            "\"3f0c2b2e-1111-4222-8333-444455556666\""
        );
        assert!(ConnectorUuid::parse("conn-a").is_err());
        assert!(serde_json::from_str::<ConnectorUuid>("\"conn-a\"").is_err());
    }
}
