//! Tests of the write-behind: retention in memory and in SQLite, losses counted,
//! the store's state reported.

use std::time::{Duration, Instant};

use super::*;
use crate::status::Component;
use crate::store::tests::{key, trail};
use crate::store::trails::testing::{count_all, count_present, prefill};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn memory_holds_unwritten_trails_up_to_the_retention_and_the_store_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let (recorder, task) = Recorder::spawn(store.clone(), 3, Status::new());
    for i in 0..5 {
        recorder.trail(trail(&format!("r{i}"), i));
    }
    // Nothing is written before the batch's linger: memory answers, never past
    // the retention, so the answer does not depend on how long the server has
    // been up.
    for i in 0..5 {
        let id = format!("r{i}");
        assert_eq!(recorder.recent(&id).is_some(), i >= 2, "{id} in memory");
    }
    recorder.close();
    task.await.unwrap();
    // Written: the store has the last three (the retention) and memory none.
    for i in 0..5 {
        let id = format!("r{i}");
        assert!(
            recorder.recent(&id).is_none(),
            "{id} in memory once written"
        );
        assert_eq!(
            store.trail(&id).await.unwrap().is_some(),
            i >= 2,
            "{id} in SQLite"
        );
    }
    assert_eq!(recorder.recent.len(), 0);
    assert_eq!(recorder.dropped(), Dropped::default());
}

/// An idle server holds no trail in memory: each is forgotten once its batch
/// commits, and `ExplainFallback` reads it from the store from then on.
#[tokio::test]
async fn a_written_trail_leaves_memory_and_the_store_answers_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let (recorder, task) = Recorder::spawn(store.clone(), 100, Status::new());
    for i in 0..50 {
        recorder.trail(trail(&format!("r{i}"), i));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while recorder.recent.len() > 0 {
        assert!(Instant::now() < deadline, "never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..50 {
        assert!(
            store.trail(&format!("r{i}")).await.unwrap().is_some(),
            "r{i}"
        );
    }
    recorder.close();
    task.await.unwrap();
}

#[tokio::test]
async fn failed_writes_mark_the_store_degraded_and_count_trails_lost_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(&path, key()).await.unwrap();
    let status = Status::new();
    let (recorder, task) = Recorder::spawn(store.clone(), 100, status.clone());
    // A closed pool fails every write, as a broken file would.
    store.close().await;
    recorder.trail(trail("r1", 1));
    recorder.trail(trail("r2", 2));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !status.is_degraded() {
        assert!(Instant::now() < deadline, "never degraded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reason = status.reason(Component::Store).expect("store degraded");
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    // Buffered for a retry, not lost; still answered from memory.
    assert_eq!(recorder.dropped(), Dropped::default());
    assert!(recorder.recent("r1").is_some());
    // The store is still down at shutdown: the last try fails, and they are lost.
    recorder.close();
    task.await.unwrap();
    assert_eq!(
        recorder.dropped(),
        Dropped {
            write_failed: 2,
            ..Dropped::default()
        }
    );
}

/// Degraded mode: trails whose write failed are kept and written once the store
/// is back, oldest first and in order, with those recorded meanwhile.
#[tokio::test]
async fn trails_of_an_outage_are_written_in_order_once_the_store_is_back() {
    use crate::store::trails::testing::{execute, ids_in_order};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let status = Status::new();
    let (recorder, task) = Recorder::spawn(store.clone(), 100, status.clone());
    recorder.trail(trail("before", 0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.trail("before").await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    execute(
        &store,
        "CREATE TRIGGER fault BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )
    .await;
    recorder.trail(trail("r1", 1));
    recorder.trail(trail("r2", 2));
    while !status.is_degraded() {
        assert!(Instant::now() < deadline, "never degraded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Recorded while degraded: after the failed ones.
    for i in 3..=5 {
        recorder.trail(trail(&format!("r{i}"), i));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ids_in_order(&store).await, ["before"]);
    execute(&store, "DROP TRIGGER fault").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids_in_order(&store).await.len() < 6 {
        assert!(Instant::now() < deadline, "never written after the outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ids_in_order(&store).await,
        ["before", "r1", "r2", "r3", "r4", "r5"]
    );
    assert!(!status.is_degraded());
    assert_eq!(recorder.dropped(), Dropped::default());
    recorder.close();
    task.await.unwrap();
}

/// A write that hangs on the database (here: SQLite's lock held by another
/// connection, as a PostgreSQL that stopped answering would) does not stop the
/// task from taking trails off the queue: more than the queue holds are recorded
/// meanwhile, none is lost, and all are written once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_write_does_not_stop_the_queue_from_draining() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(&path, key()).await.unwrap();
    let (recorder, task) = Recorder::spawn(store.clone(), 100_000, Status::new());
    let mut lock = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .unwrap();
    recorder.trail(trail("first", 0));
    // The write of `first` is now waiting for the lock (busy_timeout 5 s).
    tokio::time::sleep(LINGER_PLUS).await;
    let n = QUEUE + 1000;
    for i in 0..n {
        recorder.trail(trail(&format!("r{i}"), i as u64));
        if i % 512 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(recorder.dropped(), Dropped::default());
    assert!(
        store.trail("first").await.unwrap().is_none(),
        "the write really waits for the lock"
    );
    sqlx::raw_sql("COMMIT").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    recorder.close();
    task.await.unwrap();
    assert_eq!(recorder.dropped(), Dropped::default());
    assert_eq!(
        crate::store::trails::testing::count_all(&store).await,
        n as u64 + 1
    );
}

const LINGER_PLUS: Duration = Duration::from_millis(200);

/// Issue 15 item 6: at a retention of 1,000,000 the prune scanned the whole table
/// every 1,000 trails, the write queue overflowed and 26,290 trails were dropped.
/// A million rows are prefilled, then trails are recorded through the real
/// `Recorder` at the benchmark's highest rate for `SWITCHYARD_RETENTION_SECS`
/// (default 10; the README gives a 60 s run): none may be dropped, and each must
/// be in SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_trail_retention_drops_no_trail_at_the_benchmark_rate() {
    const RETENTION: u32 = 1_000_000;
    let secs = env_u64("SWITCHYARD_RETENTION_SECS", 10);
    // The benchmark's highest sustained rate: 9.8k calls/s (README, Performance).
    let rate = env_u64("SWITCHYARD_RETENTION_RATE", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let filled = Instant::now();
    prefill(&store, u64::from(RETENTION)).await;
    let prefill_time = filled.elapsed();
    let status = Status::new();
    let (recorder, task) = Recorder::spawn(store.clone(), RETENTION, status.clone());

    let per_tick = (rate / 100).max(1);
    let total = rate * secs;
    let mut ids = Vec::with_capacity(total as usize);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = Instant::now();
    while (ids.len() as u64) < total {
        tick.tick().await;
        for _ in 0..per_tick {
            let id = uuid::Uuid::now_v7().to_string();
            recorder.trail(trail(&id, wall_ms()));
            ids.push(id);
        }
    }
    let recording = started.elapsed();
    recorder.close();
    task.await.unwrap();
    let flushed = started.elapsed();

    let dropped = recorder.dropped();
    let present = count_present(&store, &ids).await;
    let rows = count_all(&store).await;
    eprintln!(
        "retention {RETENTION}: prefill {prefill_time:?}; {} trails in {recording:?} ({:.0}/s), flushed after {flushed:?}; dropped {dropped:?}; {present} found; {rows} rows",
        ids.len(),
        ids.len() as f64 / recording.as_secs_f64(),
    );
    assert_eq!(dropped, Dropped::default());
    assert!(!status.is_degraded(), "{:?}", status.degraded());
    assert_eq!(present, ids.len(), "every recorded trail is in SQLite");
    assert_eq!(rows, u64::from(RETENTION), "exactly the retention is kept");
}

#[tokio::test]
async fn a_full_queue_keeps_the_trail_in_memory_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let (recorder, task) = Recorder::spawn(store.clone(), 100_000, Status::new());
    // A current-thread runtime: the writer cannot run before this test yields, so
    // the queue holds exactly QUEUE trails and the rest overflow.
    for i in 0..QUEUE + 3 {
        recorder.trail(trail(&format!("r{i}"), i as u64));
    }
    assert_eq!(
        recorder.dropped(),
        Dropped {
            queue_full: 3,
            ..Dropped::default()
        }
    );
    let last = format!("r{}", QUEUE + 2);
    assert!(recorder.recent(&last).is_some(), "kept in memory");
    recorder.close();
    task.await.unwrap();
    assert!(store.trail("r0").await.unwrap().is_some());
    assert!(store.trail(&last).await.unwrap().is_none());
}

#[tokio::test]
async fn losses_and_degradation_are_exported_as_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let status = Status::new();
    // A buffer of one unwritten trail: of three recorded while the store is
    // down, two fall past it.
    let (recorder, task) = Recorder::spawn_buffered(store.clone(), 100, 1, status.clone());
    let metrics = crate::metrics::Metrics::new(None).unwrap();
    metrics.observe_writer(recorder.clone(), status.clone());
    let text = metrics.render();
    let line = |name: &str, label: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(label))
            .unwrap_or_else(|| panic!("no {name} {label} in\n{text}"))
            .to_owned()
    };
    assert!(line("switchyard_trails_dropped_total", "reason=\"queue_full\"").ends_with(" 0"));
    assert!(line("switchyard_degraded", "component=\"store\"").ends_with(" 0"));
    store.close().await;
    for i in 1..=3 {
        recorder.trail(trail(&format!("r{i}"), i));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while recorder.dropped().buffer_full < 2 || !status.is_degraded() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = metrics.render();
    let line = |name: &str, label: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(label))
            .unwrap_or_else(|| panic!("no {name} {label} in\n{text}"))
            .to_owned()
    };
    assert!(line("switchyard_trails_dropped_total", "reason=\"buffer_full\"").ends_with(" 2"));
    assert!(line("switchyard_trails_dropped_total", "reason=\"write_failed\"").ends_with(" 0"));
    assert!(line("switchyard_degraded", "component=\"store\"").ends_with(" 1"));
    assert!(line("switchyard_degraded", "component=\"credentials\"").ends_with(" 0"));
    recorder.close();
    task.await.unwrap();
}

#[tokio::test]
async fn health_changes_of_a_failed_write_are_written_once_the_store_is_back() {
    use crate::store::trails::testing::execute;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let k1 = crate::store::NewApiKey {
        id: "k1".into(),
        provider: "p".into(),
        label: String::new(),
        priority: 0,
        secret: "sk-1".to_owned().into(),
    };
    store.add_api_key(&k1, 1).await.unwrap();
    let status = Status::new();
    let (recorder, task) = Recorder::spawn(store.clone(), 100, status.clone());
    // A fault every connection sees: writes of trails and of health abort.
    execute(
        &store,
        "CREATE TRIGGER fault BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )
    .await;
    execute(
        &store,
        "CREATE TRIGGER fault_health BEFORE INSERT ON credential_state BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )
    .await;
    recorder.trail(trail("r1", 1));
    let incarnation = store.credential("k1").await.unwrap().unwrap().incarnation;
    recorder
        .health(HealthChange::Dead {
            id: "k1".into(),
            incarnation,
            reason: "token_invalidated".into(),
            at: 5,
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !status.is_degraded() {
        assert!(Instant::now() < deadline, "never degraded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        status
            .reason(Component::Store)
            .unwrap()
            .contains("injected fault")
    );
    let stored = store.credential("k1").await.unwrap().unwrap();
    assert_eq!(stored.health.dead_since, None, "not written yet");

    execute(&store, "DROP TRIGGER fault").await;
    execute(&store, "DROP TRIGGER fault_health").await;
    // Nothing else is written: the idle retry brings the store back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while status.is_degraded() {
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = store.credential("k1").await.unwrap().unwrap();
    assert_eq!(
        stored.health.dead_since,
        Some(5),
        "the dead mark was persisted"
    );
    recorder.close();
    task.await.unwrap();
}

/// The request path does not wake the writer: while a batch lingers, trails sent
/// meanwhile wait in the queue and the task is not polled for them (one wake per
/// batch, not one per request: a task wake per call cost a thread wake-up on the
/// benchmark). They are all written when the batch is due.
#[tokio::test]
async fn trails_sent_while_a_batch_lingers_do_not_wake_the_writer() {
    use std::sync::atomic::AtomicUsize;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let (trails, trails_rx) = mpsc::channel(QUEUE);
    let (_health, health_rx) = mpsc::channel(HEALTH_QUEUE);
    let (shutdown, stop) = watch::channel(false);
    let writer = task::Writer::new(
        store.clone(),
        100_000,
        DEFAULT_BUFFER,
        Status::new(),
        Arc::new(Losses::default()),
        Arc::new(Recent::new(RECENT)),
    );
    let queues = task::Queues {
        trails: trails_rx,
        health: health_rx,
    };
    let polls = Arc::new(AtomicUsize::new(0));
    let mut write_loop = Box::pin(task::write_loop(writer, queues, stop));
    let counted = polls.clone();
    let task = tokio::spawn(std::future::poll_fn(move |cx| {
        counted.fetch_add(1, Ordering::Relaxed);
        write_loop.as_mut().poll(cx)
    }));

    // Idle, the task waits for a trail; the first of a batch wakes it, and it
    // starts the linger.
    tokio::task::yield_now().await;
    assert_eq!(polls.load(Ordering::Relaxed), 1, "the task ran and waits");
    trails.try_send(Arc::new(trail("first", 0))).unwrap();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let before = polls.load(Ordering::Relaxed);
    assert!(before >= 2, "the first trail woke the task: {before} polls");
    let started = Instant::now();
    for i in 0..100 {
        trails
            .try_send(Arc::new(trail(&format!("r{i}"), i)))
            .unwrap();
        // The test's task yields after each: a woken writer would run here.
        tokio::task::yield_now().await;
    }
    let woken = polls.load(Ordering::Relaxed) - before;
    // Only the task's own timer may wake it meanwhile: once per tick that passed
    // (none, unless this machine stalled), never once per trail.
    let ticks = (started.elapsed().as_millis() / task::TICK.as_millis()) as usize;
    assert!(
        woken <= ticks + 1,
        "100 trails polled the lingering writer {woken} times in {:?}",
        started.elapsed()
    );

    shutdown.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(count_all(&store).await, 101, "every trail is written");
}

/// While the store is degraded the task retries once a second, but takes the
/// trails queued meanwhile into its buffer every tick: more trails than the queue
/// holds, recorded within one retry period, are buffered, none dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_store_buffers_more_trails_than_the_queue_holds_between_retries() {
    use crate::store::trails::testing::execute;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    let status = Status::new();
    let (recorder, task) = Recorder::spawn(store.clone(), 1_000_000, status.clone());
    execute(
        &store,
        "CREATE TRIGGER fault BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )
    .await;
    recorder.trail(trail("first", 0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !status.is_degraded() {
        assert!(Instant::now() < deadline, "never degraded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The next retry is a second away: record more than the queue holds before it.
    let started = Instant::now();
    let n = QUEUE + 1000;
    for i in 0..n {
        recorder.trail(trail(&format!("r{i}"), i as u64));
        if i % 512 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "recorded within one retry period: {:?}",
        started.elapsed()
    );
    assert_eq!(recorder.dropped(), Dropped::default());
    execute(&store, "DROP TRIGGER fault").await;
    recorder.close();
    task.await.unwrap();
    assert_eq!(recorder.dropped(), Dropped::default());
    assert_eq!(count_all(&store).await, n as u64 + 1);
}
