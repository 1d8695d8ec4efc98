//! Group commit for short, independent writes (a master's accept): the writes that arrive while one
//! transaction is committing are done together in the next, each under its own savepoint, so they share
//! one `COMMIT` (one fsync at `durability = full`) and the pages they both touch. Each write still runs in
//! a `BEGIN IMMEDIATE` transaction and checks everything it relies on; a refused write rolls back to its
//! savepoint and leaves the others alone. Nobody waits for a batch to fill: a write that finds the writer
//! idle commits alone at once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// One write waiting for its batch. `run` does the write and keeps its result aside; `true` when it
/// succeeded. `settle` hands the kept result to the caller once the batch's fate is known: as it is after a
/// `COMMIT` that returned, replaced by the failure when the batch did not commit (or the write never ran).
struct Unit {
    run: Run,
    settle: Settle,
}

type Run = Box<dyn FnOnce(&Transaction<'_>) -> bool + Send>;
type Settle = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

#[derive(Default)]
struct Queue {
    pending: Vec<Unit>,
    /// Whether a leader is running a batch now.
    leading: bool,
}

/// The writes waiting to be committed together, and the batch in progress.
#[derive(Default)]
pub(super) struct Group {
    queue: Mutex<Queue>,
    /// Signalled when a batch ends: its writes have results, and the next leader may start.
    batch_ended: Condvar,
}

type Slot<T, E> = Arc<Mutex<Option<Result<T, E>>>>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Group {
    /// Runs `f` in the next batch on `writer` and returns its result once the batch is committed.
    pub(super) fn write<T, E>(&self, writer: &Mutex<Connection>, f: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + Send + 'static,
    {
        // `kept` holds the write's result while its batch runs; only `settle` moves it into `slot`, the one
        // place the caller looks, so no caller (woken early or spuriously) sees a result before `COMMIT`.
        let slot: Slot<T, E> = Arc::default();
        let kept: Slot<T, E> = Arc::default();
        let (kept_by_run, published) = (Arc::clone(&kept), Arc::clone(&slot));
        let run = Box::new(move |tx: &Transaction<'_>| {
            let result = catch_unwind(AssertUnwindSafe(|| f(tx)))
                .unwrap_or_else(|_| Err(E::from(failure("the write panicked; it was rolled back"))));
            let ok = result.is_ok();
            *lock(&kept_by_run) = Some(result);
            ok
        });
        let settle = Box::new(move |error: Option<&rusqlite::Error>| {
            let result = match (error, lock(&kept).take()) {
                (None, Some(result)) => result,
                (Some(error), _) => Err(E::from(copy(error))),
                (None, None) => Err(E::from(failure("the write was not run"))),
            };
            *lock(&published) = Some(result);
        });
        let mut queue = lock(&self.queue);
        queue.pending.push(Unit { run, settle });
        loop {
            if let Some(result) = lock(&slot).take() {
                return result;
            }
            if !queue.leading {
                queue.leading = true;
                let batch = std::mem::take(&mut queue.pending);
                drop(queue);
                commit(writer, batch);
                queue = lock(&self.queue);
                queue.leading = false;
                self.batch_ended.notify_all();
                continue;
            }
            queue = self.batch_ended.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Runs a batch in one transaction, each write under its own savepoint, then settles every write: with its
/// own result when `COMMIT` returned, with the failure otherwise.
fn commit(writer: &Mutex<Connection>, batch: Vec<Unit>) {
    let mut conn = lock(writer);
    let (runs, settles): (Vec<_>, Vec<_>) = batch.into_iter().map(|u| (u.run, u.settle)).unzip();
    let outcome = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let [_] = runs.as_slice() {
            // Alone in its batch: exactly `Db::write`, no savepoint.
            let run = runs.into_iter().next().expect("one write");
            return if run(&tx) { tx.commit() } else { tx.rollback() };
        }
        for run in runs {
            tx.prepare_cached("SAVEPOINT grouped_write")?.execute([])?;
            if !run(&tx) {
                tx.prepare_cached("ROLLBACK TO grouped_write")?.execute([])?;
            }
            tx.prepare_cached("RELEASE grouped_write")?.execute([])?;
        }
        tx.commit()
    })();
    drop(conn);
    for settle in settles {
        settle(outcome.as_ref().err());
    }
}

/// A copy of a SQLite error, for each write of a failed batch.
fn copy(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => failure(&other.to_string()),
    }
}

fn failure(message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(message.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Barrier, Mutex};

    use super::lock;
    use crate::db::{Db, Durability};

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("group.sqlite"), Durability::Normal).unwrap();
        db.write(|tx| tx.execute_batch("CREATE TABLE claims (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL)")).unwrap();
        (dir, db)
    }

    fn claims(db: &Db) -> Vec<(i64, i64)> {
        db.read(|c| -> Result<_, crate::db::DbError> {
            let rows = c.prepare("SELECT id, owner FROM claims ORDER BY id")?.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .unwrap()
    }

    /// 40 threads claim 20 rows, two per row, at once: each row is won once, the losers are refused
    /// (rolled back to their savepoint) without undoing anyone else's claim.
    #[test]
    fn concurrent_writes_each_get_their_own_outcome() {
        let (_dir, db) = db();
        let start = Barrier::new(40);
        let outcomes: Vec<(i64, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..40)
                .map(|i| {
                    let (db, start) = (db.clone(), &start);
                    s.spawn(move || {
                        start.wait();
                        let row = i % 20;
                        let won = db.write_grouped(move |tx| -> rusqlite::Result<()> {
                            tx.execute("INSERT INTO claims (id, owner) VALUES (?1, ?2)", [row, i])?;
                            Ok(())
                        });
                        (row, won.is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for row in 0..20 {
            assert_eq!(outcomes.iter().filter(|(r, won)| *r == row && *won).count(), 1, "row {row} is won exactly once");
        }
        let stored = claims(&db);
        assert_eq!(stored.len(), 20);
        assert!(stored.iter().all(|(id, owner)| owner % 20 == *id), "each row belongs to one of its two claimants");
    }

    /// Holds each `COMMIT` of the writer until the test lets it go; `fail` makes it a rollback instead.
    fn hold_commits(db: &Db) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<bool>) {
        let (entered, entered_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<bool>();
        let release_rx = Mutex::new(release_rx);
        let _ = lock(&db.writer).commit_hook(Some(move || {
            entered.send(()).unwrap();
            // true turns the commit into a rollback: the batch fails to commit.
            lock(&release_rx).recv().unwrap()
        }));
        (entered_rx, release)
    }

    /// A write waiting in a batch whose `COMMIT` has not returned sees nothing, however often it is woken;
    /// when that `COMMIT` fails, every write of the batch fails and nothing of it is stored.
    #[test]
    fn no_caller_sees_its_result_before_the_commit_and_a_failed_commit_fails_the_whole_batch() {
        let (_dir, db) = db();
        let (entered, release) = hold_commits(&db);
        let returned = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let write = |id: i64| {
                let (db, returned) = (db.clone(), &returned);
                s.spawn(move || {
                    let result = db.write_grouped(move |tx| tx.execute("INSERT INTO claims (id, owner) VALUES (?1, ?1)", [id]));
                    returned.fetch_add(1, Ordering::SeqCst);
                    result.is_ok()
                })
            };
            // Batch 1: one write, held in its COMMIT while two more queue behind it.
            let first = write(1);
            entered.recv().unwrap();
            let (second, third) = (write(2), write(3));
            while lock(&db.group.queue).pending.len() < 2 {
                std::thread::yield_now();
            }
            release.send(false).unwrap();
            assert!(first.join().unwrap(), "the first batch commits");
            // Batch 2: both queued writes, run and held in their COMMIT.
            entered.recv().unwrap();
            for _ in 0..200 {
                // Spurious and stale wake-ups, as a condition variable may deliver at any time.
                db.group.batch_ended.notify_all();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let returned_early = returned.load(Ordering::SeqCst) - 1;
            release.send(true).unwrap();
            let succeeded = [second, third].map(|t| t.join().unwrap());
            assert_eq!(returned_early, 0, "no write of a batch returns before its COMMIT");
            assert_eq!(succeeded, [false, false], "a batch that failed to commit fails every write in it");
        });
        assert_eq!(claims(&db), vec![(1, 1)], "nothing of the failed batch is stored");
    }

    #[test]
    fn a_write_that_panics_is_refused_and_rolled_back_alone() {
        let (_dir, db) = db();
        let panicked = db.write_grouped(|tx| -> rusqlite::Result<()> {
            tx.execute("INSERT INTO claims (id, owner) VALUES (1, 1)", [])?;
            panic!("a bug in a write");
        });
        assert!(panicked.is_err());
        db.write_grouped(|tx| tx.execute("INSERT INTO claims (id, owner) VALUES (2, 2)", [])).unwrap();
        assert_eq!(claims(&db), vec![(2, 2)]);
    }
}
