//! One declaration per setting: its variable, type, default, accepted range, documentation and
//! how `GET /config` shows it.
//!
//! A setting used to be described in three places that drifted apart: the reader (a key, a
//! default and a range in a call), the `/config` view (a JSON path and a redaction rule) and
//! docs/CONFIGURATION.md. Now the reader asks [`Source`] for a declared setting (the default
//! and the range come from the declaration, so the messages cannot disagree with the
//! document), the view walks the declarations, and the document's tables are rendered from them
//! (`config::docs` and `cli::docs`, whose test fails when the document is stale). It lives
//! beside [`Source`] because the core, the connectors and superlog all declare settings.

use serde_json::{Map, Value};

use super::{Secret, Source};

/// The part of the documentation a setting is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Process, storage, listening, logging.
    Core,
    /// Authentication, sessions and the audit trail.
    Auth,
    /// Single sign-on.
    Oidc,
    Scanner,
    /// Workers, retries, transfers and jobs.
    Workers,
    /// Calls from the core to connectors.
    ConnectorCalls,
    /// The connectors' own settings (`DSXCONNECTOR_*`).
    Connector,
    /// The S3 connector's additions.
    S3,
    /// The Azure Blob connector's additions.
    Azure,
    /// Superlog's global settings (`SUPERLOG__*`), most also per destination.
    Superlog,
    /// Superlog's syslog destination.
    SuperlogSyslog,
    /// Superlog's Splunk HEC destination.
    SuperlogSplunk,
    /// Superlog's CloudWatch Logs destination.
    SuperlogCloudwatch,
    /// Superlog's Microsoft Sentinel destination.
    SuperlogSentinel,
    /// Superlog's webhook destination.
    SuperlogWebhook,
    /// The GCS connector's additions.
    Gcs,
}

/// How a value is shown by `GET /config`: a JSON path (`.` nests) and the function reading it
/// from the loaded settings `S`. Secrets are redacted by that function.
pub struct View<S: 'static> {
    pub path: &'static str,
    pub get: fn(&S) -> Value,
}

/// A declared setting of kind `K` (one of [`Flag`], [`Int`], [`Secs`], [`Size`], [`Text`],
/// [`Choice`], [`HttpUrl`], [`SecretText`]), shown in `/config` from settings `S`.
pub struct Setting<K: 'static, S: 'static> {
    /// The name after the prefix, `__` for nesting: `SCANNER__TIMEOUT_SECS`.
    pub key: &'static str,
    pub kind: K,
    pub section: Section,
    /// What it does, for the document (Markdown, one line).
    pub doc: &'static str,
    /// The default as documented when it is computed (e.g. from the number of CPUs).
    pub default_doc: Option<&'static str>,
    /// Older or alternative names read when this one is unset.
    pub aliases: &'static [&'static str],
    pub view: Option<View<S>>,
}

impl<K, S> Setting<K, S> {
    pub const fn new(key: &'static str, kind: K, section: Section, doc: &'static str) -> Self {
        Self {
            key,
            kind,
            section,
            doc,
            default_doc: None,
            aliases: &[],
            view: None,
        }
    }

    /// Shown by `GET /config` at `path`.
    pub const fn shown(mut self, path: &'static str, get: fn(&S) -> Value) -> Self {
        self.view = Some(View { path, get });
        self
    }

    pub const fn default_doc(mut self, text: &'static str) -> Self {
        self.default_doc = Some(text);
        self
    }

    pub const fn aliases(mut self, names: &'static [&'static str]) -> Self {
        self.aliases = names;
        self
    }
}

/// A boolean (`true/false/1/0/yes/no/on/off`).
pub struct Flag(pub bool);

/// An integer within `[min, max]`; `default: None` means unset.
pub struct Int {
    pub default: Option<i64>,
    pub min: i64,
    pub max: i64,
}

impl Int {
    /// An integer with a default.
    pub const fn with_default(default: i64, min: i64, max: i64) -> Self {
        Self {
            default: Some(default),
            min,
            max,
        }
    }
}

/// A number of seconds (fractions allowed) within `[min, max]`.
pub struct Secs {
    pub default: Option<f64>,
    pub min: f64,
    pub max: f64,
}

impl Secs {
    /// Seconds with a default.
    pub const fn with_default(default: f64, min: f64, max: f64) -> Self {
        Self {
            default: Some(default),
            min,
            max,
        }
    }
}

/// A byte size with an optional `K`, `M` or `G` suffix.
pub struct Size;

/// Free text (paths, lists, addresses), checked by its reader where it has a syntax.
pub struct Text(pub Option<&'static str>);

/// One of a fixed set of words; `accepted` is the list as error messages print it.
pub struct Choice {
    pub default: &'static str,
    pub accepted: &'static str,
}

/// An absolute `http://` or `https://` URL with a host.
pub struct HttpUrl;

/// A secret, also accepted as `<NAME>_FILE` (a file holding the value) when `file` is set.
pub struct SecretText {
    pub file: bool,
}

impl SecretText {
    /// A secret also accepted as `<NAME>_FILE`.
    pub const FILE: SecretText = SecretText { file: true };
}

/// What a kind contributes to the document.
pub trait Kind {
    /// The default as the document shows it (`None`: unset).
    fn default_text(&self) -> Option<String>;
    /// The type and the accepted values.
    fn accepted(&self) -> String;
    fn secret(&self) -> bool {
        false
    }
    fn file(&self) -> bool {
        false
    }
}

/// Numbers the way the document writes them (`600`, `0.1`).
fn number(n: f64) -> String {
    format!("{n}")
}

/// The accepted range of an integer; the type's extremes are no bound.
fn int_range(min: i64, max: i64) -> String {
    match (min == i64::MIN, max == i64::MAX) {
        (true, true) => "integer".into(),
        (false, true) => format!("integer ≥ {min}"),
        (true, false) => format!("integer ≤ {max}"),
        (false, false) => format!("integer {min}–{max}"),
    }
}

impl Kind for Flag {
    fn default_text(&self) -> Option<String> {
        Some(self.0.to_string())
    }
    fn accepted(&self) -> String {
        "boolean".into()
    }
}

impl Kind for Int {
    fn default_text(&self) -> Option<String> {
        self.default.map(|n| n.to_string())
    }
    fn accepted(&self) -> String {
        int_range(self.min, self.max)
    }
}

impl Kind for Secs {
    fn default_text(&self) -> Option<String> {
        self.default.map(number)
    }
    fn accepted(&self) -> String {
        format!("seconds {}–{}", number(self.min), number(self.max))
    }
}

impl Kind for Size {
    fn default_text(&self) -> Option<String> {
        None
    }
    fn accepted(&self) -> String {
        "size (`K`, `M`, `G`)".into()
    }
}

impl Kind for Text {
    fn default_text(&self) -> Option<String> {
        self.0.map(str::to_string)
    }
    fn accepted(&self) -> String {
        "text".into()
    }
}

impl Kind for Choice {
    fn default_text(&self) -> Option<String> {
        Some(self.default.to_string())
    }
    fn accepted(&self) -> String {
        self.accepted.to_string()
    }
}

impl Kind for HttpUrl {
    fn default_text(&self) -> Option<String> {
        None
    }
    fn accepted(&self) -> String {
        "`http(s)://` URL".into()
    }
}

impl Kind for SecretText {
    fn default_text(&self) -> Option<String> {
        None
    }
    fn accepted(&self) -> String {
        "secret".into()
    }
    fn secret(&self) -> bool {
        true
    }
    fn file(&self) -> bool {
        self.file
    }
}

/// One row of a document table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub section: Section,
    pub variable: String,
    pub default: String,
    pub accepted: String,
    pub meaning: String,
}

/// An entry of a settings table: a declared setting, or a fact the `/config` view shows that
/// no single setting owns (the backend in use, the version).
pub trait Entry<S: 'static>: Sync {
    /// The document row, `None` for a fact.
    fn row(&self, prefix: &str) -> Option<Row>;
    fn view(&self) -> Option<&View<S>>;
    /// The variable's key, `None` for a fact.
    fn key(&self) -> Option<&'static str>;
    fn is_secret(&self) -> bool;
    /// Older or alternative names of the variable.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
}

impl<K: Kind + Sync, S: 'static> Entry<S> for Setting<K, S> {
    fn row(&self, prefix: &str) -> Option<Row> {
        let mut variable = format!("`{prefix}{}`", self.key);
        if self.kind.file() {
            variable.push_str(" (`_FILE`)");
        }
        let default = match (self.default_doc, self.kind.default_text()) {
            (Some(d), _) => d.to_string(),
            (None, Some(d)) => format!("`{d}`"),
            (None, None) => "unset".to_string(),
        };
        let mut meaning = self.doc.to_string();
        if !self.aliases.is_empty() {
            let names: Vec<String> = self.aliases.iter().map(|a| format!("`{prefix}{a}`")).collect();
            meaning.push_str(&format!("; alias {}", names.join(", ")));
        }
        Some(Row {
            section: self.section,
            variable,
            default,
            accepted: self.kind.accepted(),
            meaning,
        })
    }

    fn view(&self) -> Option<&View<S>> {
        self.view.as_ref()
    }

    fn key(&self) -> Option<&'static str> {
        Some(self.key)
    }

    fn is_secret(&self) -> bool {
        self.kind.secret()
    }

    fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }
}

/// A `/config` entry owned by no setting.
pub struct Fact<S: 'static>(pub View<S>);

impl<S: 'static> Entry<S> for Fact<S> {
    fn row(&self, _prefix: &str) -> Option<Row> {
        None
    }
    fn view(&self) -> Option<&View<S>> {
        Some(&self.0)
    }
    fn key(&self) -> Option<&'static str> {
        None
    }
    fn is_secret(&self) -> bool {
        false
    }
}

/// The Markdown table of `rows`.
pub fn table(rows: impl IntoIterator<Item = Row>) -> String {
    let mut out = String::from("| Variable | Default | Accepted | Meaning |\n|---|---|---|---|\n");
    let cell = |s: &str| s.replace('|', "\\|");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&r.variable),
            cell(&r.default),
            cell(&r.accepted),
            cell(&r.meaning)
        ));
    }
    out
}

/// The rows of `entries` (variables named with `prefix`) in `section`.
pub fn rows<S: 'static>(entries: &[&dyn Entry<S>], prefix: &str, section: Section) -> Vec<Row> {
    entries
        .iter()
        .filter_map(|e| e.row(prefix))
        .filter(|r| r.section == section)
        .collect()
}

/// A secret in `/config`: `"***"` when set, `null` when not.
pub fn shown_secret(s: &Option<Secret>) -> Value {
    s.as_ref().map(|_| Value::from("***")).unwrap_or(Value::Null)
}

/// A path in `/config`, `null` when unset.
pub fn shown_path(p: &Option<std::path::PathBuf>) -> Value {
    p.as_ref()
        .map(|p| Value::from(p.display().to_string()))
        .unwrap_or(Value::Null)
}

/// The `/config` object of `settings`: every entry's view in table order, `.` nesting.
pub fn render_view<S: 'static>(table: &[&dyn Entry<S>], settings: &S) -> Value {
    let mut root = Map::new();
    for view in table.iter().filter_map(|e| e.view()) {
        let parts: Vec<&str> = view.path.split('.').collect();
        insert(&mut root, &parts, (view.get)(settings));
    }
    Value::Object(root)
}

/// Puts `value` at `path` below `obj`, creating the objects on the way.
fn insert(obj: &mut Map<String, Value>, path: &[&str], value: Value) {
    match path {
        [] => {}
        [leaf] => {
            obj.insert((*leaf).to_string(), value);
        }
        [first, rest @ ..] => {
            let slot = obj
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert(inner, rest, value);
            }
        }
    }
}

/// Typed reads of declared settings: the default and the range come from the declaration.
impl Source {
    /// Reads the declared aliases of `s` into its key (each only when the key is unset).
    fn aliased<K, S>(&mut self, s: &Setting<K, S>) {
        for alias in s.aliases {
            self.alias(alias, s.key);
        }
    }

    pub fn flag<S>(&mut self, s: &Setting<Flag, S>) -> bool {
        self.aliased(s);
        self.bool_or(s.key, s.kind.0)
    }

    /// The boolean when set; an invalid value is recorded as an error and reads as the default.
    pub fn flag_opt<S>(&mut self, s: &Setting<Flag, S>) -> Option<bool> {
        self.aliased(s);
        let set = self.is_set(s.key);
        let v = self.bool_or(s.key, s.kind.0);
        set.then_some(v)
    }

    /// The boolean, or `default` when unset (for defaults that depend on other settings).
    pub fn flag_or<S>(&mut self, s: &Setting<Flag, S>, default: bool) -> bool {
        self.aliased(s);
        self.bool_or(s.key, default)
    }

    /// The integer, its declared default when unset or invalid (then an error is recorded);
    /// settings declared without a default are read with [`Source::int_opt`].
    pub fn int<S>(&mut self, s: &Setting<Int, S>) -> i64 {
        self.aliased(s);
        let v = self.int_opt_in(s.key, s.kind.min, s.kind.max);
        v.or(s.kind.default).unwrap_or(s.kind.min)
    }

    /// The integer set under `key` instead of the declared key (a per-destination override of
    /// a global setting), in the declared range.
    pub fn int_opt_at<S>(&mut self, s: &Setting<Int, S>, key: &str) -> Option<i64> {
        self.int_opt_in(key, s.kind.min, s.kind.max)
    }

    /// The integer when set (and valid).
    pub fn int_opt<S>(&mut self, s: &Setting<Int, S>) -> Option<i64> {
        self.aliased(s);
        self.int_opt_in(s.key, s.kind.min, s.kind.max)
    }

    /// Seconds; declared without a default, an unset value reads as `-1`.
    pub fn secs<S>(&mut self, s: &Setting<Secs, S>) -> f64 {
        self.aliased(s);
        self.secs_in(s.key, s.kind.default.unwrap_or(-1.0), s.kind.min, s.kind.max)
    }

    /// Seconds when set (and valid).
    pub fn secs_opt<S>(&mut self, s: &Setting<Secs, S>) -> Option<f64> {
        self.aliased(s);
        let v = self.secs_in(s.key, -1.0, s.kind.min, s.kind.max);
        (v >= 0.0).then_some(v)
    }

    pub fn size<S>(&mut self, s: &Setting<Size, S>) -> Option<u64> {
        self.aliased(s);
        self.size_opt(s.key)
    }

    /// The text when set (empty counts as unset).
    pub fn text<S>(&mut self, s: &Setting<Text, S>) -> Option<String> {
        self.aliased(s);
        self.string(s.key)
    }

    /// The text, or its declared default.
    pub fn text_or_default<S>(&mut self, s: &Setting<Text, S>) -> String {
        self.aliased(s);
        self.string(s.key)
            .unwrap_or_else(|| s.kind.0.unwrap_or_default().to_string())
    }

    /// The text, or `default` when unset (for defaults that depend on other settings).
    pub fn text_or<S>(&mut self, s: &Setting<Text, S>, default: &str) -> String {
        self.aliased(s);
        self.string_or(s.key, default)
    }

    /// The choice parsed as `T`, or `None` when unset or invalid (then an error is recorded).
    pub fn choice<T: std::str::FromStr, S>(&mut self, s: &Setting<Choice, S>) -> Option<T> {
        self.aliased(s);
        self.parse_opt(s.key, s.kind.accepted)
    }

    /// The choice as written when set (empty counts as unset), for readers that parse it.
    pub fn choice_text<S>(&mut self, s: &Setting<Choice, S>) -> Option<String> {
        self.aliased(s);
        self.string(s.key)
    }

    pub fn http_url<S>(&mut self, s: &Setting<HttpUrl, S>) -> Option<url::Url> {
        self.aliased(s);
        self.http_url_opt(s.key)
    }

    /// The secret, from `<NAME>` or (when declared) `<NAME>_FILE`.
    pub fn secret_of<S>(&mut self, s: &Setting<SecretText, S>) -> Option<Secret> {
        self.aliased(s);
        if s.kind.file {
            self.secret_or_file(s.key)
        } else {
            self.secret(s.key)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Shown {
        port: u16,
        token: Option<Secret>,
    }

    const PORT: Setting<Int, Shown> =
        Setting::new("PORT", Int::with_default(8586, 1, 65535), Section::Core, "the port")
            .aliases(&["LEGACY_PORT"])
            .shown("listen.port", |s| json!(s.port));
    const TOKEN: Setting<SecretText, Shown> =
        Setting::new("TOKEN", SecretText::FILE, Section::Core, "a token").shown("token", |s| shown_secret(&s.token));
    const TABLE: &[&dyn Entry<Shown>] = &[&TOKEN, &PORT];

    #[test]
    fn a_row_shows_the_default_the_range_the_aliases_and_the_file_variant() {
        let row = PORT.row("X_").unwrap();
        assert_eq!(row.variable, "`X_PORT`");
        assert_eq!(row.default, "`8586`");
        assert_eq!(row.accepted, "integer 1–65535");
        assert_eq!(row.meaning, "the port; alias `X_LEGACY_PORT`");
        let row = TOKEN.row("X_").unwrap();
        assert_eq!(
            (row.variable.as_str(), row.default.as_str()),
            ("`X_TOKEN` (`_FILE`)", "unset")
        );
        assert!(TOKEN.is_secret() && !PORT.is_secret());
    }

    #[test]
    fn the_view_nests_paths_in_table_order_and_hides_secrets() {
        let s = Shown {
            port: 1,
            token: Some(Secret::new("hidden")),
        };
        let v = render_view(TABLE, &s);
        assert_eq!(v.to_string(), r#"{"token":"***","listen":{"port":1}}"#);
    }

    #[test]
    fn reads_take_the_default_the_range_and_the_aliases_from_the_declaration() {
        let env = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Source::load("X_", &env(&[]), None).unwrap();
        assert_eq!(s.int(&PORT), 8586);
        let mut s = Source::load("X_", &env(&[("X_LEGACY_PORT", "9")]), None).unwrap();
        assert_eq!(s.int(&PORT), 9);
        assert!(s.finish().unwrap().is_empty(), "the alias counts as known");
        let mut s = Source::load("X_", &env(&[("X_PORT", "0")]), None).unwrap();
        s.int(&PORT);
        let e = s.finish().unwrap_err().to_string();
        assert!(
            e.contains("X_PORT: '0' is not valid: expected an integer from 1 to 65535"),
            "{e}"
        );
    }
}
