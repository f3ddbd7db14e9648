//! Which engine and signature set produced a verdict, as far as reuse is concerned
//! (docs/SCAN-REUSE.md): a verdict is reused only under the same engine identity, so a new engine
//! version or signature database rescans everything.

use std::fmt;

/// An engine, its version and its signature/database version, as one opaque text. Engines that
/// cannot say which signatures they use have none, and their verdicts are never reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineIdentity(String);

impl EngineIdentity {
    /// `engine` (its name) with `detail`, which must change whenever the engine's verdicts may.
    pub fn new(engine: crate::model::Engine, detail: impl fmt::Display) -> Self {
        Self(format!("{}:{detail}", engine.as_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EngineIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Engine;

    #[test]
    fn engines_and_details_both_count() {
        let a = EngineIdentity::new(Engine::Clamd, "ClamAV 1.0.7/27480");
        assert_eq!(a, EngineIdentity::new(Engine::Clamd, "ClamAV 1.0.7/27480"));
        assert_ne!(a, EngineIdentity::new(Engine::Clamd, "ClamAV 1.0.7/27481"));
        assert_ne!(a, EngineIdentity::new(Engine::Embedded, "ClamAV 1.0.7/27480"));
    }
}
