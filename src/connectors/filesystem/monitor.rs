//! The folder monitor (docs/reference/CONNECTORS.md, "Monitor"): new and changed files are scanned
//! once they settle.
//!
//! Change notifications (inotify through `notify`, or a polling watcher for network shares) feed
//! a collector task. A path becomes a *candidate* when a file was created, written or renamed
//! into the tree (a folder created or moved in makes every file below it a candidate); deletions
//! and renames out drop it; metadata-only changes (permissions, times, extended attributes — our
//! own tags) are ignored. A candidate settles when no event arrived for the debounce window and
//! its size and modification time did not change meanwhile (or after the longest wait). Every
//! 250 ms the settled candidates that pass the gates (still a regular file, not quarantined, in
//! scope for the filter) form one job, handed to the framework without waiting: the watcher never
//! waits for the core. Names that are not valid UTF-8 pass too: their location is the
//! `dsx-bytes:` form of [`super::location`] and the filter sees their lossy text, as in the walk.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, CreateKind, MetadataKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::location;
use crate::connectors::filter::Filter;
use crate::connectors::framework::settings::MonitorSettings;
use crate::connectors::framework::{Item, ItemSink};

/// Pending candidates kept at most; beyond, new ones are dropped and counted ("Monitor").
const MAX_PENDING: usize = 100_000;
/// How often settled candidates are sent as a group.
const TICK: Duration = Duration::from_millis(250);
/// How often a missing or failed watcher is re-established.
const REARM: Duration = Duration::from_secs(2);
/// Events buffered between the watcher thread and the collector.
const EVENT_BOUND: usize = 65_536;

/// What the monitor needs to know about the asset.
pub struct MonitorPlan {
    pub asset_path: PathBuf,
    pub quarantine: PathBuf,
    pub settings: MonitorSettings,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    first: Instant,
    last: Instant,
    size: u64,
    mtime: Option<SystemTime>,
}

enum Watch {
    Inotify(notify::RecommendedWatcher),
    Poll(notify::PollWatcher),
}

/// Starts the collector task; it runs until `stop` is cancelled.
pub fn spawn(plan: MonitorPlan, sink: Arc<dyn ItemSink>, filter: Arc<Filter>, stop: CancellationToken) {
    tokio::spawn(run(plan, sink, filter, stop));
}

fn stat(p: &Path) -> Option<(u64, Option<SystemTime>)> {
    let m = std::fs::symlink_metadata(p).ok()?;
    m.is_file().then(|| (m.len(), m.modified().ok()))
}

/// Why the folder cannot be watched (shown on readyz with its cause).
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("asset folder {} is unavailable", .0.display())]
    Unavailable(PathBuf, #[source] std::io::Error),
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("the watcher cannot start")]
    Start(#[source] notify::Error),
    #[error(
        "the inotify watch limit is reached; raise fs.inotify.max_user_watches or use DSXCONNECTOR_MONITOR_FORCE_POLLING=true"
    )]
    WatchLimit(#[source] notify::Error),
    #[error("cannot watch {}", .0.display())]
    Watch(PathBuf, #[source] notify::Error),
}

fn start_watcher(plan: &MonitorPlan, tx: &mpsc::Sender<notify::Result<Event>>) -> Result<Watch, WatchError> {
    let meta = std::fs::metadata(&plan.asset_path).map_err(|e| WatchError::Unavailable(plan.asset_path.clone(), e))?;
    if !meta.is_dir() {
        return Err(WatchError::NotAFolder(plan.asset_path.clone()));
    }
    let tx = tx.clone();
    let handler = move |ev: notify::Result<Event>| {
        // Blocking here only slows the watcher thread (inotify queues meanwhile).
        let _ = tx.blocking_send(ev);
    };
    let mut w = if plan.settings.force_polling {
        let cfg = notify::Config::default().with_poll_interval(plan.settings.poll_interval);
        Watch::Poll(notify::PollWatcher::new(handler, cfg).map_err(WatchError::Start)?)
    } else {
        Watch::Inotify(notify::recommended_watcher(handler).map_err(WatchError::Start)?)
    };
    let watched = match &mut w {
        Watch::Inotify(x) => x.watch(&plan.asset_path, RecursiveMode::Recursive),
        Watch::Poll(x) => x.watch(&plan.asset_path, RecursiveMode::Recursive),
    };
    watched.map_err(|e| match e.kind {
        notify::ErrorKind::MaxFilesWatch => WatchError::WatchLimit(e),
        _ => WatchError::Watch(plan.asset_path.clone(), e),
    })?;
    Ok(w)
}

struct Collector {
    plan: MonitorPlan,
    filter: Arc<Filter>,
    candidates: HashMap<PathBuf, Candidate>,
    dropped: u64,
    last_drop_warning: Option<Instant>,
    /// Folders created a moment ago and the files already found in them: inotify adds a new
    /// folder's watch only after its creation event, so files written into it right away may
    /// raise no event; these folders are walked again for a short while.
    fresh_dirs: HashMap<PathBuf, (Instant, HashSet<PathBuf>)>,
    /// Polling only: files that existed when watching began (the poller reports them once).
    preexisting: Option<(Instant, HashSet<PathBuf>)>,
}

impl Collector {
    fn touch(&mut self, path: &Path, now: Instant) {
        let Some((size, mtime)) = stat(path) else {
            self.candidates.remove(path);
            return;
        };
        if let Some(c) = self.candidates.get_mut(path) {
            c.last = now;
            c.size = size;
            c.mtime = mtime;
            return;
        }
        if self.candidates.len() >= MAX_PENDING {
            self.dropped += 1;
            if self
                .last_drop_warning
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
            {
                self.last_drop_warning = Some(Instant::now());
                tracing::warn!(
                    dropped = self.dropped,
                    "monitor: too many pending files; new ones are dropped"
                );
            }
            return;
        }
        self.candidates.insert(
            path.to_path_buf(),
            Candidate {
                first: now,
                last: now,
                size,
                mtime,
            },
        );
    }

    /// A path that appeared: a file becomes a candidate, a folder makes all its files ones.
    fn appeared(&mut self, path: &Path, now: Instant) {
        if let Some((_, seen)) = &mut self.preexisting
            && seen.remove(path)
        {
            return; // the poller's first sighting of a file that was already there
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut seen = HashSet::new();
                for e in walkdir::WalkDir::new(path).follow_links(false).into_iter().flatten() {
                    if e.file_type().is_file() {
                        self.touch(e.path(), now);
                        seen.insert(e.path().to_path_buf());
                    }
                }
                self.fresh_dirs.insert(path.to_path_buf(), (now, seen));
            }
            Ok(m) if m.is_file() => {
                if let Some((_, seen)) = self
                    .fresh_dirs
                    .iter_mut()
                    .find(|(d, _)| path.starts_with(d))
                    .map(|(_, v)| v)
                {
                    seen.insert(path.to_path_buf());
                }
                self.touch(path, now)
            }
            _ => {}
        }
    }

    /// Walks the folders created a moment ago again for files that raised no event.
    fn rewalk_fresh_dirs(&mut self, now: Instant) {
        let window = self.plan.settings.debounce.max(Duration::from_millis(500)) * 2;
        self.fresh_dirs
            .retain(|_, (born, _)| now.duration_since(*born) < window);
        let mut found = Vec::new();
        for (dir, (_, seen)) in self.fresh_dirs.iter_mut() {
            for e in walkdir::WalkDir::new(dir).follow_links(false).into_iter().flatten() {
                if e.file_type().is_file() && seen.insert(e.path().to_path_buf()) {
                    found.push(e.path().to_path_buf());
                }
            }
        }
        for p in found {
            self.touch(&p, now);
        }
        if self
            .preexisting
            .as_ref()
            .is_some_and(|(t, _)| now.duration_since(*t) > self.plan.settings.poll_interval * 3)
        {
            self.preexisting = None;
        }
    }

    fn on_event(&mut self, ev: Event) {
        tracing::trace!(kind = ?ev.kind, paths = ?ev.paths, "monitor event");
        let now = Instant::now();
        if ev.need_rescan() {
            tracing::warn!(
                "monitor: the platform dropped change events (queue overflow); files changed meanwhile are not scanned until they change again"
            );
        }
        match ev.kind {
            EventKind::Create(CreateKind::Folder) => ev.paths.iter().for_each(|p| self.appeared(p, now)),
            EventKind::Create(_) => ev.paths.iter().for_each(|p| self.appeared(p, now)),
            // A folder gone (or renamed away) takes its pending files with it.
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(RemoveKind::Folder) => {
                for p in &ev.paths {
                    self.candidates.remove(p);
                    self.candidates.retain(|k, _| !k.starts_with(p));
                }
            }
            EventKind::Remove(_) => {
                for p in &ev.paths {
                    self.candidates.remove(p);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let [from, to, ..] = ev.paths.as_slice() {
                    self.candidates.remove(from);
                    self.appeared(to, now);
                }
            }
            EventKind::Modify(ModifyKind::Name(_)) => ev.paths.iter().for_each(|p| self.appeared(p, now)),
            // Polling can only see times and sizes: a new modification time is a write there.
            // (A folder's new time only means its entries changed; those have their own events.)
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::WriteTime)) if self.plan.settings.force_polling => {
                for p in &ev.paths {
                    if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()) {
                        self.appeared(p, now);
                    }
                }
            }
            EventKind::Modify(ModifyKind::Metadata(_)) => {}
            EventKind::Modify(_) | EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                ev.paths.iter().for_each(|p| self.appeared(p, now))
            }
            _ => {}
        }
    }

    /// Candidates that settled, turned into items that pass the gates.
    fn settled(&mut self, now: Instant) -> Vec<Item> {
        let (debounce, max_wait) = (self.plan.settings.debounce, self.plan.settings.max_wait);
        let due: Vec<PathBuf> = self
            .candidates
            .iter()
            .filter(|(_, c)| now.duration_since(c.last) >= debounce)
            .map(|(p, _)| p.clone())
            .collect();
        let quarantine = std::fs::canonicalize(&self.plan.quarantine).unwrap_or_else(|_| self.plan.quarantine.clone());
        let mut items = Vec::new();
        for path in due {
            let Some(c) = self.candidates.get(&path).copied() else {
                continue;
            };
            let now_stat = stat(&path);
            let unchanged = now_stat.is_some_and(|(s, m)| s == c.size && m == c.mtime);
            if !unchanged && now_stat.is_some() && now.duration_since(c.first) < max_wait {
                self.touch(&path, now); // still being written: wait again
                continue;
            }
            self.candidates.remove(&path);
            if let Some(item) = self.gate(&path, &quarantine, now_stat.map(|(s, _)| s)) {
                items.push(item);
            }
        }
        items.sort_by(|a, b| a.location.cmp(&b.location));
        items
    }

    fn gate(&self, path: &Path, quarantine: &Path, size: Option<u64>) -> Option<Item> {
        let size = size?; // gone, or not a regular file (a link, a FIFO …)
        let real = std::fs::canonicalize(path).ok()?;
        if real.starts_with(quarantine) || path.starts_with(&self.plan.quarantine) {
            tracing::debug!(path = %path.display(), "monitor: quarantined file ignored");
            return None;
        }
        let rel = path.strip_prefix(&self.plan.asset_path).ok()?;
        let rel_text = location::filter_text(rel);
        if !self.filter.is_in_scope(&rel_text) {
            tracing::debug!(path = %rel_text, "monitor: out of scope for the filter");
            return None;
        }
        Some(Item {
            location: location::below(&self.plan.asset_path, rel),
            metainfo: path.file_name()?.to_string_lossy().into_owned(),
            size: Some(size),
            // A change just seen is still settling: the identity is taken again by the next
            // full scan's listing.
            identity: None,
        })
    }
}

async fn run(plan: MonitorPlan, sink: Arc<dyn ItemSink>, filter: Arc<Filter>, stop: CancellationToken) {
    let (tx, mut rx) = mpsc::channel::<notify::Result<Event>>(EVENT_BOUND);
    let mut c = Collector {
        plan,
        filter,
        candidates: HashMap::new(),
        dropped: 0,
        last_drop_warning: None,
        fresh_dirs: HashMap::new(),
        preexisting: None,
    };
    let mut watch: Option<Watch> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rearm = tokio::time::interval(REARM);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = rx.recv() => match ev {
                Some(Ok(ev)) => c.on_event(ev),
                Some(Err(e)) => {
                    sink.monitor_state(Some(format!("watcher error: {e}")));
                    watch = None; // re-established by the next rearm tick
                }
                None => break,
            },
            _ = tick.tick() => {
                c.rewalk_fresh_dirs(Instant::now());
                let items = c.settled(Instant::now());
                if !items.is_empty() {
                    let sink = Arc::clone(&sink);
                    tokio::spawn(async move { sink.submit(items).await });
                }
            }
            _ = rearm.tick() => {
                let present = c.plan.asset_path.is_dir();
                if watch.is_some() && !present {
                    watch = None;
                    sink.monitor_state(Some(format!("asset folder {} disappeared", c.plan.asset_path.display())));
                }
                if watch.is_none() {
                    if c.plan.settings.force_polling && c.plan.asset_path.is_dir() {
                        let existing = walkdir::WalkDir::new(&c.plan.asset_path)
                            .follow_links(false)
                            .into_iter()
                            .flatten()
                            .filter(|e| e.file_type().is_file())
                            .map(|e| e.path().to_path_buf())
                            .collect();
                        c.preexisting = Some((Instant::now(), existing));
                    }
                    match start_watcher(&c.plan, &tx) {
                        Ok(w) => {
                            watch = Some(w);
                            sink.monitor_state(None);
                        }
                        Err(e) => sink.monitor_state(Some(crate::error_chain::error_chain(&e))),
                    }
                }
            }
        }
    }
    drop(watch);
}
