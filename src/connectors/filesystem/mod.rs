//! The filesystem connector (docs/reference/CONNECTORS.md, "Filesystem connector"): a local or
//! mounted folder.

pub mod actions;
mod beneath;
pub mod confine;
pub mod location;
mod monitor;
mod walk;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use tokio_util::io::ReaderStream;

use self::actions::{MoveError, Placed, is_transient, move_to_quarantine, probe_xattrs, tag_file, xattr_unsupported};
use self::beneath::{Dir, is_link_refusal};
use self::confine::{Confined, Refused, confine, lexical_normalize};
use crate::connectors::filter::Filter;
use crate::connectors::framework::exact_len::ExactLen;
use crate::connectors::framework::settings::ConnectorSettings;
use crate::connectors::framework::{
    ActionAnswer, Item, ItemBody, ItemReceiver, ItemSink, ReadError, RepoCheck, RepoFailure, Storage, WebhookError,
    WebhookItem,
};
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// Bytes read from disk per chunk.
const READ_CHUNK: usize = 256 * 1024;

pub struct FilesystemStorage {
    /// The asset made absolute and normalised, links not resolved (locations are built on it).
    asset_path: PathBuf,
    /// The quarantine folder (absolute; relative settings are taken relative to the asset).
    quarantine: PathBuf,
    tag_scan_time: bool,
    tag_engine: Option<String>,
    /// Extended attributes work where tags go (probed at start).
    tags_supported: bool,
    action: ItemAction,
    monitor: crate::connectors::framework::settings::MonitorSettings,
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix('~'), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(p),
    }
}

fn absolute(p: PathBuf) -> io::Result<PathBuf> {
    Ok(lexical_normalize(&if p.is_absolute() {
        p
    } else {
        std::env::current_dir()?.join(p)
    }))
}

impl FilesystemStorage {
    /// Validates the asset and quarantine settings; creates the quarantine folder for move
    /// actions; probes tag support.
    pub fn new(s: &ConnectorSettings) -> anyhow::Result<Self> {
        let asset_path = absolute(expand_home(&s.asset))
            .map_err(|e| anyhow::anyhow!("DSXCONNECTOR_ASSET: cannot make '{}' absolute: {e}", s.asset))?;
        let q = expand_home(&s.move_metainfo);
        let quarantine = lexical_normalize(&if q.is_absolute() { q } else { asset_path.join(q) });
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if !s.move_metainfo.trim().is_empty() && real(&asset_path).starts_with(real(&quarantine)) {
            anyhow::bail!(
                "DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO: the quarantine folder {} equals or contains the asset {}",
                quarantine.display(),
                asset_path.display()
            );
        }
        // Never create a missing asset (an unmounted share) by creating a quarantine inside it.
        let inside_missing_asset = quarantine.starts_with(&asset_path) && !asset_path.is_dir();
        if s.item_action.moves()
            && !inside_missing_asset
            && let Err(e) = std::fs::create_dir_all(&quarantine)
        {
            tracing::warn!(quarantine = %quarantine.display(), error = %e, "cannot create the quarantine folder; moves will fail");
        }
        let mut tags_supported = true;
        if matches!(s.item_action, ItemAction::Tag | ItemAction::MoveTag) {
            let probe_dir = if s.item_action == ItemAction::MoveTag {
                &quarantine
            } else {
                &asset_path
            };
            if let Err(e) = probe_xattrs(probe_dir) {
                tags_supported = false;
                tracing::warn!(folder = %probe_dir.display(), error = %e, "user extended attributes are not available; tagging will answer 'not implemented'");
            }
        }
        Ok(Self {
            asset_path,
            quarantine,
            tag_scan_time: s.tag_scan_time,
            tag_engine: s.tag_engine.clone(),
            tags_supported,
            action: s.item_action,
            monitor: s.monitor.clone(),
        })
    }

    /// The asset root: the asset with every link resolved (when it is available).
    fn asset_root(&self) -> Result<PathBuf, Refused> {
        asset_root(&self.asset_path)
    }

    fn quarantine_real(&self) -> PathBuf {
        std::fs::canonicalize(&self.quarantine).unwrap_or_else(|_| self.quarantine.clone())
    }

    fn in_quarantine(&self, real: &Path) -> bool {
        real.starts_with(self.quarantine_real())
    }

    /// [`confine_location`] for this asset.
    fn confine(&self, location: &str) -> Result<(PathBuf, Confined), Refused> {
        confine_location(&self.asset_path, location)
    }

    /// Opens the regular file at `location`, confined to the asset: what `read_file` serves,
    /// and what this process's core reads itself from its built-in connector
    /// (`local_open.rs`), with the same refusals.
    pub async fn open(&self, location: &str) -> Result<OpenedFile, ReadError> {
        let (asset_path, location) = (self.asset_path.clone(), location.to_string());
        tokio::task::spawn_blocking(move || open_confined(&asset_path, &location))
            .await
            .map_err(|e| ReadError::new(500, e.to_string()))?
    }

    /// The location of a real path below the asset root (built on the asset path).
    fn location_of(&self, rel: &Path) -> String {
        location::below(&self.asset_path, rel)
    }
}

/// The root of the asset at `asset_path`: every link resolved (when it is available).
fn asset_root(asset_path: &Path) -> Result<PathBuf, Refused> {
    std::fs::canonicalize(asset_path)
        .map_err(|e| Refused::AssetUnavailable(format!("asset folder {} is unavailable: {e}", asset_path.display())))
}

/// The single place a location from a request becomes a path: `dsx-bytes:` locations are
/// decoded (a malformed one is refused like any location outside the asset), then confined.
fn confine_location(asset_path: &Path, location: &str) -> Result<(PathBuf, Confined), Refused> {
    let given = location::decode(location).map_err(|e| Refused::Outside(e.to_string()))?;
    let root = asset_root(asset_path)?;
    let c = confine(Path::new(&given), asset_path, &root)?;
    Ok((root, c))
}

/// A regular file of the asset, open for reading, with its size when opened.
#[derive(Debug)]
pub struct OpenedFile {
    pub file: std::fs::File,
    pub size: u64,
}

impl OpenedFile {
    /// The file's bytes as `read_file` streams them: exactly `size` bytes, or an error if the
    /// file became shorter meanwhile.
    pub fn into_body(self) -> ItemBody {
        let stream = ExactLen::new(
            ReaderStream::with_capacity(tokio::fs::File::from_std(self.file), READ_CHUNK),
            self.size,
            "the file became shorter while it was read",
        );
        ItemBody {
            size: Some(self.size),
            stream: Box::pin(stream),
        }
    }
}

/// Opens `location` beneath the asset at `asset_path` (blocking).
fn open_confined(asset_path: &Path, location: &str) -> Result<OpenedFile, ReadError> {
    if let Some(opened) = open_plain(asset_path, location) {
        return Ok(opened);
    }
    let (root, c) = confine_location(asset_path, location).map_err(|r| match r {
        Refused::Outside(m) => ReadError::new(403, m),
        Refused::AssetUnavailable(m) => ReadError::new(503, m),
    })?;
    let not_found = || ReadError::new(404, format!("{} not found", c.real.display()));
    if c.rel.as_os_str().is_empty() {
        return Err(ReadError::new(404, "the asset folder is not a file"));
    }
    let file = Dir::open(&root)
        .and_then(|d| d.open_file(&c.rel))
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => not_found(),
            io::ErrorKind::InvalidInput => ReadError::new(404, format!("{} is not a regular file", c.real.display())),
            io::ErrorKind::PermissionDenied => ReadError::new(403, format!("permission denied: {e}")),
            _ if is_link_refusal(&e) => ReadError::new(403, "the location resolves outside the asset"),
            _ => ReadError::new(502, format!("cannot open {}: {e}", c.real.display())),
        })?;
    let size = file.metadata().map_err(|e| ReadError::new(502, e.to_string()))?.len();
    Ok(OpenedFile { file, size })
}

/// The common case without resolving a path: a location that names, lexically, a file below
/// the asset path with no link on the way is exactly what containment accepts, and opening it
/// beneath the asset while refusing every link (`beneath`) is that check done by the kernel.
/// `None` for anything else (a link inside the asset, a missing file, a refusal): the full
/// check of [`open_confined`] then gives the answer, so both ways refuse the same.
fn open_plain(asset_path: &Path, location: &str) -> Option<OpenedFile> {
    let given = PathBuf::from(location::decode(location).ok()?);
    if given.as_os_str().as_encoded_bytes().contains(&0) {
        return None;
    }
    let joined = if given.is_absolute() {
        given
    } else {
        asset_path.join(given)
    };
    let rel = lexical_normalize(&joined).strip_prefix(asset_path).ok()?.to_path_buf();
    if rel.as_os_str().is_empty() {
        return None;
    }
    let file = Dir::open(asset_path).ok()?.open_file(&rel).ok()?;
    let size = file.metadata().ok()?.len();
    Some(OpenedFile { file, size })
}

fn action_error(msg: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    ItemActionStatusResponse::new(StatusKind::Error, msg, action)
}

#[async_trait]
impl Storage for FilesystemStorage {
    fn kind(&self) -> &'static str {
        "filesystem"
    }

    fn meta_info(&self) -> String {
        format!("Filesystem location: {}", self.asset_path.display())
    }

    fn resolved_asset_base(&self) -> Option<String> {
        self.asset_root().ok().map(|p| p.display().to_string())
    }

    fn extra_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("asset_path".into(), json!(self.asset_path.display().to_string()));
        m.insert("quarantine_folder".into(), json!(self.quarantine.display().to_string()));
        m.insert("tags_supported".into(), json!(self.tags_supported));
        m
    }

    async fn repo_check(&self) -> RepoCheck {
        let asset = self.asset_path.clone();
        let quarantine = self.quarantine.clone();
        let (moves, tags) = (self.action.moves(), self.tags_supported);
        let tagging = matches!(self.action, ItemAction::Tag | ItemAction::MoveTag);
        tokio::task::spawn_blocking(move || {
            let fail = |reason: &'static str, message: String| Err(RepoFailure { reason, message });
            match std::fs::metadata(&asset) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return fail("not_found", format!("{} does not exist", asset.display()));
                }
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return fail("auth_failure", format!("{}: {e}", asset.display()));
                }
                Err(e) => return fail("unreachable", format!("{}: {e}", asset.display())),
                Ok(m) if !m.is_dir() => return fail("not_a_directory", format!("{} is not a folder", asset.display())),
                Ok(_) => {}
            }
            if let Err(e) = std::fs::read_dir(&asset) {
                let reason = if e.kind() == io::ErrorKind::PermissionDenied {
                    "auth_failure"
                } else {
                    "unreachable"
                };
                return fail(reason, format!("cannot list {}: {e}", asset.display()));
            }
            let mut warnings = Vec::new();
            if moves && !writable_dir(&quarantine) {
                warnings.push("warning=quarantine_not_writable".to_string());
            }
            if tagging && !tags {
                warnings.push("warning=tag_unsupported".to_string());
            }
            Ok(warnings)
        })
        .await
        .unwrap_or_else(|e| {
            Err(RepoFailure {
                reason: "error",
                message: e.to_string(),
            })
        })
    }

    fn enumerate(&self, filter: Arc<Filter>) -> ItemReceiver {
        let quarantine_real = std::fs::canonicalize(&self.quarantine).ok();
        walk::spawn(
            walk::WalkPlan {
                asset_path: self.asset_path.clone(),
                quarantine_real,
                quarantine_lexical: Some(self.quarantine.clone()),
            },
            filter,
        )
    }

    async fn read(&self, location: &str) -> Result<ItemBody, ReadError> {
        Ok(self.open(location).await?.into_body())
    }

    async fn item_action(&self, location: &str, action: ItemAction) -> ActionAnswer {
        let (root, c) = match self.confine(location) {
            Ok(x) => x,
            Err(Refused::Outside(m)) => return (403, action_error(m, action)),
            Err(Refused::AssetUnavailable(m)) => return (503, action_error(m, action)),
        };
        if self.in_quarantine(&c.real) {
            return (
                200,
                ItemActionStatusResponse::new(StatusKind::Nothing, "Item is in the quarantine folder", action),
            );
        }
        let plan = ActionPlan {
            asset_root: root,
            quarantine: self.quarantine.clone(),
            action,
            scan_time: self.tag_scan_time,
            engine: self.tag_engine.clone(),
            tags_ok: self.tags_supported,
        };
        tokio::task::spawn_blocking(move || plan.act(&c))
            .await
            .unwrap_or_else(|e| (500, action_error(e.to_string(), action)))
    }

    fn start_monitor(
        self: Arc<Self>,
        sink: Arc<dyn ItemSink>,
        filter: Arc<Filter>,
        stop: tokio_util::sync::CancellationToken,
    ) -> bool {
        if !self.monitor.enabled {
            return false;
        }
        let plan = monitor::MonitorPlan {
            asset_path: self.asset_path.clone(),
            quarantine: self.quarantine.clone(),
            settings: self.monitor.clone(),
        };
        monitor::spawn(plan, sink, filter, stop);
        true
    }

    async fn webhook(&self, body: &Value, filter: &Filter) -> Result<Vec<WebhookItem>, WebhookError> {
        let bad = |m: &str| WebhookError {
            status: 400,
            message: m.to_string(),
        };
        let obj = body.as_object().ok_or_else(|| bad("the body must be a JSON object"))?;
        let location = ["location", "path", "file_path"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .ok_or_else(|| bad("the body needs a non-empty 'location', 'path' or 'file_path'"))?;
        let (_root, c) = self.confine(location).map_err(|r| match r {
            Refused::Outside(m) => WebhookError {
                status: 403,
                message: m,
            },
            Refused::AssetUnavailable(m) => WebhookError {
                status: 503,
                message: m,
            },
        })?;
        let item = match std::fs::symlink_metadata(&c.real) {
            Err(_) => WebhookItem::Ignored("not_found"),
            Ok(m) if !m.is_file() => WebhookItem::Ignored("not_a_file"),
            Ok(_) if self.in_quarantine(&c.real) => WebhookItem::Ignored("quarantine"),
            Ok(m) => match location::filter_text(&c.rel) {
                rel if filter.is_in_scope(&rel) => WebhookItem::Enqueue(Item {
                    location: self.location_of(&c.rel),
                    metainfo: obj
                        .get("metainfo")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            c.real
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        }),
                    size: Some(m.len()),
                    identity: None,
                }),
                _ => WebhookItem::Ignored("filtered"),
            },
        };
        Ok(vec![item])
    }
}

fn writable_dir(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    p.is_dir() && unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0
}

/// What an item action needs once the location is confined.
struct ActionPlan {
    asset_root: PathBuf,
    quarantine: PathBuf,
    action: ItemAction,
    scan_time: bool,
    engine: Option<String>,
    tags_ok: bool,
}

/// An answer for an I/O failure: 503 when trying again may help, else a 200 error.
fn io_failure(what: &str, e: &io::Error, action: ItemAction) -> ActionAnswer {
    (
        if is_transient(e) { 503 } else { 200 },
        action_error(format!("{what}: {e}"), action),
    )
}

impl ActionPlan {
    /// Performs the action on the confined location. The item is named as an entry of its
    /// parent folder, opened beneath the asset root without following any link; everything
    /// after that goes through that descriptor (see `beneath`).
    fn act(&self, c: &Confined) -> ActionAnswer {
        let action = self.action;
        let (Some(name), Some(parent_rel)) = (c.rel.file_name(), c.rel.parent()) else {
            return (200, action_error("Item is not a regular file", action));
        };
        let parent = match Dir::open(&self.asset_root).and_then(|d| d.subdir(parent_rel)) {
            Ok(d) => d,
            Err(e) if is_link_refusal(&e) => {
                return (403, action_error("the location resolves outside the asset", action));
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                return (200, action_error("Item does not exist", action));
            }
            Err(e) => return io_failure("cannot open the item's folder", &e, action),
        };
        match parent.kind_of(name) {
            Ok(Some(rustix::fs::FileType::RegularFile)) => {}
            Ok(Some(_)) => return (200, action_error("Item is not a regular file", action)),
            Ok(None) => return (200, action_error("Item does not exist", action)),
            Err(e) => return io_failure("cannot inspect the item", &e, action),
        }
        let ok = |msg: &str, desc: String, a: ItemAction| {
            (
                200,
                ItemActionStatusResponse::new(StatusKind::Success, msg, a).with_description(desc),
            )
        };
        match action {
            ItemAction::Delete => match parent.remove(name) {
                Ok(()) => ok("Item deleted", format!("deleted={}", location::encode(&c.real)), action),
                Err(e) => io_failure("delete failed", &e, action),
            },
            ItemAction::Move => match self.quarantine_item(&parent, name, parent_rel) {
                Ok(placed) => ok(
                    "Item moved to quarantine",
                    format!("moved_to={}", location::encode(&placed.path())),
                    action,
                ),
                Err(answer) => answer,
            },
            ItemAction::Tag => match self.tag(&parent, Path::new(name)) {
                Ok(()) => ok("Item tagged", format!("tagged={}", location::encode(&c.real)), action),
                Err(e) if xattr_unsupported(&e) => (
                    200,
                    ItemActionStatusResponse::new(
                        StatusKind::Nothing,
                        "Tagging is not supported on this filesystem",
                        ItemAction::NotImplemented,
                    ),
                ),
                Err(e) if is_link_refusal(&e) => (403, action_error("the location resolves outside the asset", action)),
                Err(e) => io_failure("tag failed", &e, action),
            },
            ItemAction::MoveTag => match self.quarantine_item(&parent, name, parent_rel) {
                Err(answer) => answer,
                Ok(placed) => match self.tag(&placed.dir, Path::new(&placed.name)) {
                    Ok(()) => ok(
                        "Item moved to quarantine and tagged",
                        format!("moved_to={}", location::encode(&placed.path())),
                        action,
                    ),
                    Err(e) if xattr_unsupported(&e) => ok(
                        "Item moved to quarantine (tagging is not supported there)",
                        format!("moved_to={} tag=not_supported", location::encode(&placed.path())),
                        ItemAction::Move,
                    ),
                    Err(e) => (
                        200,
                        action_error("Item moved to quarantine but tagging failed", action)
                            .with_description(format!("moved_to={} tag_error={e}", location::encode(&placed.path()))),
                    ),
                },
            },
            ItemAction::Nothing | ItemAction::NotImplemented => (
                200,
                ItemActionStatusResponse::new(StatusKind::Nothing, "No action configured", action),
            ),
        }
    }

    /// Tags the regular file `rel` of `dir` (opened without following a link).
    fn tag(&self, dir: &Dir, rel: &Path) -> io::Result<()> {
        if !self.tags_ok {
            return Err(io::Error::from_raw_os_error(libc::ENOTSUP));
        }
        tag_file(&dir.open_file(rel)?, self.scan_time, self.engine.as_deref())
    }

    /// Moves entry `name` of `parent` into the quarantine, below the same relative folder.
    fn quarantine_item(&self, parent: &Dir, name: &std::ffi::OsStr, parent_rel: &Path) -> Result<Placed, ActionAnswer> {
        let action = self.action;
        // The quarantine root itself is configuration (links in it are the operator's choice);
        // everything below it is created and entered without following links.
        let root = std::fs::create_dir_all(&self.quarantine)
            .and_then(|()| Dir::open(&self.quarantine))
            .map_err(|e| {
                io_failure(
                    &format!("cannot open the quarantine folder {}", self.quarantine.display()),
                    &e,
                    action,
                )
            })?;
        move_to_quarantine(parent, name, parent_rel, &root).map_err(|e| match e {
            MoveError::Failed { message, transient } => {
                (if transient { 503 } else { 200 }, action_error(message, action))
            }
            MoveError::SourceKept { dest, reason } => (
                200,
                action_error(
                    "The item was copied to quarantine but its source could not be removed",
                    action,
                )
                .with_description(format!(
                    "moved_to={} source_not_removed={reason}",
                    location::encode(&dest)
                )),
            ),
        })
    }
}
