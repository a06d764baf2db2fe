//! What starts a reload: SIGHUP; a change of the config file or of a declared
//! key file (debounced); and, every second, a moved change count of the store's
//! credentials (the CLI wrote to the same file). On PostgreSQL the change feed
//! ([`crate::feed`]) replaces that poll.
//!
//! Directories are watched, not files: an editor replaces the file by a rename,
//! and Kubernetes updates a mounted ConfigMap or Secret by swapping its `..data`
//! symlink, which a watch on the file itself would never see.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Reloader;
use crate::config::{Config, KeySource};
use crate::store::Dialect;

/// Quiet time after a file event before the reload: one save is often several
/// events (truncate, write, rename), and a half-written file would be refused.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// How often the store's change count is read.
pub const STORE_POLL: Duration = Duration::from_secs(1);

/// The running triggers; dropping them stops nothing, [`Triggers::stop`] does.
#[derive(Debug)]
pub struct Triggers {
    tasks: Vec<JoinHandle<()>>,
}

impl Triggers {
    /// Starts every trigger of `reloader`, watching the files `config` names.
    pub fn start(reloader: Arc<Reloader>, config: &Config) -> Self {
        // On PostgreSQL the change feed ([`crate::feed`]) brings every replica
        // the store's changes, health included: no poll.
        let mut tasks = Vec::new();
        if reloader.store.dialect() == Dialect::Sqlite {
            tasks.push(tokio::spawn(poll_store(reloader.clone())));
        }
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => tasks.push(tokio::spawn(on_sighup(reloader.clone(), signal))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: reload by file change only")
            }
        }
        let files = watched_files(reloader.source().path.as_deref(), config);
        if !files.is_empty() {
            tasks.push(tokio::spawn(on_file_change(reloader, files)));
        }
        Self { tasks }
    }

    /// Stops the triggers (at shutdown).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

#[cfg(unix)]
async fn on_sighup(reloader: Arc<Reloader>, mut signal: tokio::signal::unix::Signal) {
    while signal.recv().await.is_some() {
        // Refusals are logged by `reload`; the server goes on either way.
        let _ = reloader.reload("SIGHUP").await;
    }
}

async fn poll_store(reloader: Arc<Reloader>) {
    let mut tick = tokio::time::interval(STORE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match reloader.sync_store().await {
            Ok(_) => failing = false,
            // Said once per run of failures: the store's health reports the rest.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the store's credential changes");
            }
            Err(_) => {}
        }
    }
}

/// The files whose change reloads: the config file and every declared key file,
/// by directory.
fn watched_files(
    config_file: Option<&Path>,
    config: &Config,
) -> BTreeMap<PathBuf, BTreeSet<OsString>> {
    let mut files: Vec<PathBuf> = config_file.map(Path::to_path_buf).into_iter().collect();
    for p in config.providers.values() {
        for key in p.declared_keys() {
            if let KeySource::File(path) = key.source {
                files.push(path);
            }
        }
    }
    let mut by_dir: BTreeMap<PathBuf, BTreeSet<OsString>> = BTreeMap::new();
    for file in files {
        let absolute = std::path::absolute(&file).unwrap_or(file);
        if let (Some(dir), Some(name)) = (absolute.parent(), absolute.file_name()) {
            by_dir
                .entry(dir.to_path_buf())
                .or_default()
                .insert(name.to_owned());
        }
    }
    by_dir
}

/// Whether an event on `path` concerns a watched file: the file itself, or a
/// Kubernetes `..data` swap in its directory.
fn concerns(files: &BTreeMap<PathBuf, BTreeSet<OsString>>, path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    files
        .get(dir)
        .is_some_and(|names| names.contains(name) || name.to_string_lossy().starts_with("..data"))
}

async fn on_file_change(reloader: Arc<Reloader>, files: BTreeMap<PathBuf, BTreeSet<OsString>>) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let Some(watch) = watch_dirs(files, tx) else {
        return;
    };
    while rx.recv().await.is_some() {
        // Debounce: wait until the files have been quiet for a moment.
        while tokio::time::timeout(DEBOUNCE, rx.recv()).await.is_ok() {}
        let _ = reloader.reload("file change").await;
    }
    drop(watch);
}

/// Watches the directories of `files`, sending on `tx` when an event concerns one
/// of them; `None` when nothing can be watched (logged). The watch lasts as long as
/// the value returned.
///
/// On Linux, inotify directly, on tokio's reactor, asking only for the events a
/// change of a file makes once it is written: closed after writing, created,
/// deleted, renamed. Not every write (`IN_MODIFY`) nor every open: a SQLite
/// database beside the config file (the default layout) is written to at every
/// batch of trails, and notify's fixed mask woke its thread for each write only
/// to discard the event. Elsewhere, notify's recommended watcher.
#[cfg(target_os = "linux")]
fn watch_dirs(
    files: BTreeMap<PathBuf, BTreeSet<OsString>>,
    tx: mpsc::Sender<()>,
) -> Option<Watching> {
    use futures::StreamExt as _;
    use inotify::{EventMask, Inotify, WatchMask};
    let inotify = match Inotify::init() {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file: reload by SIGHUP only");
            return None;
        }
    };
    let mask = WatchMask::CLOSE_WRITE
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO;
    let mut dirs = Vec::new();
    for dir in files.keys() {
        match inotify.watches().add(dir, mask) {
            Ok(wd) => dirs.push((wd, dir.clone())),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a config directory");
            }
        }
    }
    let mut events = match inotify.into_event_stream([0u8; 4096]) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file: reload by SIGHUP only");
            return None;
        }
    };
    Some(Watching(tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                // Events were lost: one of them may have been a change. A reload
                // of an unchanged file changes nothing.
                let _ = tx.try_send(());
                continue;
            }
            let Some(dir) = dirs.iter().find(|(wd, _)| *wd == event.wd).map(|(_, d)| d) else {
                continue;
            };
            if event
                .name
                .is_some_and(|name| concerns(&files, &dir.join(name)))
            {
                // Full: a reload is already due.
                let _ = tx.try_send(());
            }
        }
    })))
}

/// The task reading inotify's events; stopped (and its descriptor closed) when
/// dropped.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Watching(JoinHandle<()>);

#[cfg(target_os = "linux")]
impl Drop for Watching {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(not(target_os = "linux"))]
fn watch_dirs(
    files: BTreeMap<PathBuf, BTreeSet<OsString>>,
    tx: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let filter = files.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event.paths.iter().any(|p| concerns(&filter, p)) {
            // Full: a reload is already due.
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file: reload by SIGHUP only");
            return None;
        }
    };
    for dir in files.keys() {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a config directory");
        }
    }
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_on_the_file_or_a_kubernetes_data_swap_concern_it_and_others_do_not() {
        let mut files = BTreeMap::new();
        files.insert(
            PathBuf::from("/etc/sy"),
            BTreeSet::from([OsString::from("switchyard.yaml")]),
        );
        assert!(concerns(&files, Path::new("/etc/sy/switchyard.yaml")));
        assert!(concerns(&files, Path::new("/etc/sy/..data")));
        assert!(concerns(&files, Path::new("/etc/sy/..data_tmp")));
        assert!(!concerns(&files, Path::new("/etc/sy/switchyard.db-wal")));
        assert!(!concerns(&files, Path::new("/etc/other/switchyard.yaml")));
    }
}
