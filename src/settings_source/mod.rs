//! Layered settings source: built-in defaults < TOML file < environment
//! (docs/reference/CORE-API.md, "Settings rules"). Shared by the core's settings (`config/`),
//! the connectors' and superlog's, so it belongs to none of them.
//!
//! Values are kept as text with their origin until a typed getter reads them, so every error
//! can name the exact variable (or file key) and the values it accepts. Our variable names,
//! aliases and legacy names are part of the product's contract, which is why this small layer
//! is ours rather than a generic configuration crate that would coerce `"[x]"` into an array.
//!
//! [`setting`] declares each setting once (type, default, range, documentation, `/config`
//! view) and reads it from a [`Source`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub mod setting;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Env(String),
    File { path: PathBuf, key: String },
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(name) => f.write_str(name),
            Origin::File { path, key } => write!(f, "{key} (in {})", path.display()),
            Origin::Flag(name) => write!(f, "--{name}"),
        }
    }
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigIssue {
    pub origin: String,
    pub message: String,
}

/// Every invalid setting found at start-up (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<ConfigIssue>);

/// A secret value: printed as `***`, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Flat key/value settings for one prefix (`DSXCONNECT_` or `DSXCONNECTOR_`), plus the
/// bookkeeping needed to warn once about every unknown key and to collect every error.
pub struct Source {
    prefix: &'static str,
    values: BTreeMap<String, (String, Origin)>,
    consumed: BTreeSet<String>,
    issues: Vec<ConfigIssue>,
    warnings: Vec<String>,
}

impl Source {
    /// Reads `prefix*` variables from `env` (case-insensitive names) over an optional TOML file.
    pub fn load(
        prefix: &'static str,
        env: &BTreeMap<String, String>,
        toml_file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut s = Self {
            prefix,
            values: BTreeMap::new(),
            consumed: BTreeSet::new(),
            issues: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(path) = toml_file {
            s.load_toml(path)?;
        }
        for (name, value) in env {
            let upper = name.to_ascii_uppercase();
            if let Some(key) = upper.strip_prefix(prefix) {
                s.values
                    .insert(key.to_string(), (value.clone(), Origin::Env(upper.clone())));
            }
        }
        Ok(s)
    }

    fn load_toml(&mut self, path: &Path) -> Result<(), ConfigError> {
        let fail = |message: String| {
            ConfigError(vec![ConfigIssue {
                origin: format!("--config {}", path.display()),
                message,
            }])
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e| fail(format!("not valid TOML: {e}")))?;
        let mut flat = Vec::new();
        flatten_toml("", &toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            let origin = Origin::File {
                path: path.to_path_buf(),
                key: key.to_ascii_lowercase().replace("__", "."),
            };
            self.values.insert(key, (value, origin));
        }
        Ok(())
    }

    /// Sets a value from a command-line flag (highest precedence).
    pub fn set_flag(&mut self, key: &str, flag: &str, value: String) {
        self.values
            .insert(key.to_string(), (value, Origin::Flag(flag.to_string())));
    }

    /// Renames a legacy/alternative key to its canonical key when the canonical one is unset.
    pub fn alias(&mut self, alias: &str, canonical: &str) {
        if let Some(v) = self.values.remove(alias) {
            self.consumed.insert(alias.to_string());
            self.values.entry(canonical.to_string()).or_insert(v);
        }
    }

    /// Marks a key as known but without effect (one warning when it is set).
    pub fn ignored(&mut self, key: &str, why: &str) {
        if let Some((_, origin)) = self.values.get(key) {
            self.warnings
                .push(format!("{origin} is accepted but has no effect: {why}"));
            self.consumed.insert(key.to_string());
        }
    }

    /// Marks the variables the command line reads itself (the flags' `DSXCONNECT_SCAN_*`,
    /// `DSXCONNECT_SERVE_*`, …) as known: they are not settings, and not typos either.
    pub fn command_line(&mut self, prefixes: &[&str]) {
        let flags: Vec<String> = self
            .values
            .keys()
            .filter(|k| prefixes.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect();
        self.consumed.extend(flags);
    }

    /// The variable name a key is configured by, for messages.
    pub fn var_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn take(&mut self, key: &str) -> Option<(String, Origin)> {
        self.consumed.insert(key.to_string());
        self.values.get(key).cloned()
    }

    fn issue(&mut self, origin: &Origin, message: String) {
        self.issues.push(ConfigIssue {
            origin: origin.to_string(),
            message,
        });
    }

    /// Records an error not tied to one parsed value (e.g. two settings that conflict).
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let origin = self
            .values
            .get(key)
            .map(|(_, o)| o.to_string())
            .unwrap_or_else(|| self.var_name(key));
        self.issues.push(ConfigIssue {
            origin,
            message: message.into(),
        });
    }

    pub fn is_set(&self, key: &str) -> bool {
        self.values.get(key).is_some_and(|(v, _)| !v.trim().is_empty())
    }

    /// A string; empty counts as unset.
    pub fn string(&mut self, key: &str) -> Option<String> {
        self.take(key).map(|(v, _)| v).filter(|v| !v.is_empty())
    }

    pub fn string_or(&mut self, key: &str, default: &str) -> String {
        self.string(key).unwrap_or_else(|| default.to_string())
    }

    pub fn secret(&mut self, key: &str) -> Option<Secret> {
        self.string(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(Secret::new)
    }

    /// A secret given as `KEY` or as `KEY_FILE` (a file whose content, without one trailing
    /// newline, is the value); both set is an error.
    pub fn secret_or_file(&mut self, key: &str) -> Option<Secret> {
        let file_key = format!("{key}_FILE");
        let direct = self.secret(key);
        let path = self.string(&file_key);
        match (direct, path) {
            (Some(_), Some(_)) => {
                self.error(key, format!("set either {0} or {0}_FILE, not both", self.var_name(key)));
                None
            }
            (Some(s), None) => Some(s),
            (None, Some(p)) => match std::fs::read_to_string(p.trim()) {
                Ok(text) => {
                    let v = text.strip_suffix('\n').unwrap_or(&text);
                    let v = v.strip_suffix('\r').unwrap_or(v);
                    Some(Secret::new(v))
                }
                Err(e) => {
                    self.error(&file_key, format!("cannot read the secret file: {}", e.kind()));
                    None
                }
            },
            (None, None) => None,
        }
    }

    /// Set keys that start with `prefix` (to list or consume a section).
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, (v, _))| k.starts_with(prefix) && !v.trim().is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Adds a warning to log at start (e.g. a deprecated name).
    pub fn warn(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }

    /// `true/false/1/0/yes/no/on/off`, any case.
    pub fn bool_or(&mut self, key: &str, default: bool) -> bool {
        let Some((v, origin)) = self.take(key) else {
            return default;
        };
        match parse_bool(&v) {
            Some(b) => b,
            None if v.trim().is_empty() => default,
            None => {
                self.issue(
                    &origin,
                    format!("'{v}' is not a boolean: expected true, false, 1, 0, yes, no, on or off"),
                );
                default
            }
        }
    }

    /// An integer within `[min, max]`.
    pub fn int_in(&mut self, key: &str, default: i64, min: i64, max: i64) -> i64 {
        self.int_opt_in(key, min, max).unwrap_or(default)
    }

    pub fn int_opt_in(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let (v, origin) = self.take(key)?;
        if v.trim().is_empty() {
            return None;
        }
        match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.issue(
                    &origin,
                    format!("'{v}' is not valid: expected an integer from {min} to {max}"),
                );
                None
            }
        }
    }

    /// A non-negative number of seconds (fractions allowed).
    pub fn secs_in(&mut self, key: &str, default: f64, min: f64, max: f64) -> f64 {
        let Some((v, origin)) = self.take(key) else {
            return default;
        };
        if v.trim().is_empty() {
            return default;
        }
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => n,
            _ => {
                self.issue(
                    &origin,
                    format!("'{v}' is not valid: expected a number of seconds from {min} to {max}"),
                );
                default
            }
        }
    }

    /// A byte size: an integer, optionally with a `K`, `M` or `G` suffix (×1024ⁿ).
    pub fn size_opt(&mut self, key: &str) -> Option<u64> {
        let (v, origin) = self.take(key)?;
        if v.trim().is_empty() {
            return None;
        }
        match parse_size(&v) {
            Some(n) => Some(n),
            None => {
                self.issue(
                    &origin,
                    format!("'{v}' is not a size: expected bytes as an integer, optionally with K, M or G"),
                );
                None
            }
        }
    }

    /// A value parsed by `FromStr`; `accepted` lists the valid values for the message.
    pub fn parse_opt<T: FromStr>(&mut self, key: &str, accepted: &str) -> Option<T> {
        let (v, origin) = self.take(key)?;
        if v.trim().is_empty() {
            return None;
        }
        match v.trim().parse::<T>() {
            Ok(x) => Some(x),
            Err(_) => {
                self.issue(&origin, format!("'{v}' is not valid: expected {accepted}"));
                None
            }
        }
    }

    /// An absolute `http`/`https` URL with a host.
    pub fn http_url_opt(&mut self, key: &str) -> Option<url::Url> {
        let (v, origin) = self.take(key)?;
        if v.trim().is_empty() {
            return None;
        }
        match url::Url::parse(v.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.issue(
                    &origin,
                    format!("'{v}' is not valid: expected an http:// or https:// URL with a host"),
                );
                None
            }
        }
    }

    /// Finishes reading: returns the collected warnings (unknown keys included), or every
    /// problem found.
    pub fn finish(mut self) -> Result<Vec<String>, ConfigError> {
        for (key, (_, origin)) in &self.values {
            if !self.consumed.contains(key) {
                self.warnings
                    .push(format!("{origin} is not a known setting and is ignored"));
            }
        }
        if self.issues.is_empty() {
            Ok(self.warnings)
        } else {
            Err(ConfigError(self.issues))
        }
    }
}

fn flatten_toml(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.to_ascii_uppercase()
                } else {
                    format!("{prefix}__{}", k.to_ascii_uppercase())
                };
                flatten_toml(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        toml::Value::Array(a) => out.push((
            prefix.to_string(),
            a.iter()
                .map(|x| match x {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        )),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub fn parse_size(v: &str) -> Option<u64> {
    let t = v.trim();
    let (digits, mult) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1u64 << 10),
        'm' | 'M' => (&t[..t.len() - 1], 1 << 20),
        'g' | 'G' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// The process environment as a map (tests pass their own).
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_ones_warn_once() {
        let mut s = Source::load(
            "DSXCONNECT_",
            &env(&[("dsxconnect_port", "1"), ("DSXCONNECT_FOO", "1")]),
            None,
        )
        .unwrap();
        assert_eq!(s.int_in("PORT", 8586, 1, 65535), 1);
        let w = s.finish().unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("DSXCONNECT_FOO"));
    }

    #[test]
    fn errors_name_the_variable_and_the_accepted_values() {
        let mut s = Source::load("DSXCONNECT_", &env(&[("DSXCONNECT_USE_TLS", "maybe")]), None).unwrap();
        s.bool_or("USE_TLS", false);
        let e = s.finish().unwrap_err();
        assert!(e.to_string().contains("DSXCONNECT_USE_TLS"));
        assert!(e.to_string().contains("yes, no"));
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("25M"), Some(25 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn toml_tables_nest_with_double_underscores_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "port = 9000\n[scanner]\nengine = \"clamd\"\n").unwrap();
        let mut s = Source::load("DSXCONNECT_", &env(&[("DSXCONNECT_PORT", "9001")]), Some(&p)).unwrap();
        assert_eq!(s.string("SCANNER__ENGINE").as_deref(), Some("clamd"));
        assert_eq!(s.int_in("PORT", 1, 1, 65535), 9001);
    }
}
