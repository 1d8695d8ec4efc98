//! Group commit for short, independent writes (a master's accept): the writes that arrive while one
//! transaction is committing are done together in the next, each under its own savepoint, so they share
//! one `COMMIT` (one fsync at `durability = full`) and the pages they both touch. Each write still runs in
//! a `BEGIN IMMEDIATE` transaction and checks everything it relies on; a refused write rolls back to its
//! savepoint and leaves the others alone. Nobody waits for a batch to fill: a write that finds the writer
//! idle commits alone at once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// One write waiting for its batch: runs itself and keeps its result; `true` when it succeeded.
type Unit = Box<dyn FnOnce(&Transaction<'_>) -> bool + Send>;
/// Tells a write whose batch failed to commit why.
type Failure = Box<dyn FnOnce(&rusqlite::Error) + Send>;

#[derive(Default)]
struct Queue {
    pending: Vec<(Unit, Failure)>,
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

impl Group {
    /// Runs `f` in the next batch on `writer` and returns its result once the batch is committed.
    pub(super) fn write<T, E>(&self, writer: &Mutex<Connection>, f: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + Send + 'static,
    {
        let slot: Slot<T, E> = Arc::default();
        let (mine, theirs) = (Arc::clone(&slot), Arc::clone(&slot));
        let unit: Unit = Box::new(move |tx| {
            let result = catch_unwind(AssertUnwindSafe(|| f(tx)))
                .unwrap_or_else(|_| Err(E::from(failure("the write panicked; it was rolled back"))));
            let ok = result.is_ok();
            *mine.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            ok
        });
        let fail: Failure = Box::new(move |error| {
            *theirs.lock().unwrap_or_else(|p| p.into_inner()) = Some(Err(E::from(copy(error))));
        });
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.pending.push((unit, fail));
        loop {
            if let Some(result) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return result;
            }
            if !queue.leading {
                queue.leading = true;
                let batch = std::mem::take(&mut queue.pending);
                drop(queue);
                commit(writer, batch);
                queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                queue.leading = false;
                self.batch_ended.notify_all();
                continue;
            }
            queue = self.batch_ended.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Runs a batch in one transaction, each write under its own savepoint.
fn commit(writer: &Mutex<Connection>, batch: Vec<(Unit, Failure)>) {
    let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
    let (units, failures): (Vec<Unit>, Vec<Failure>) = batch.into_iter().unzip();
    let outcome = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let [_] = units.as_slice() {
            // Alone in its batch: exactly `Db::write`, no savepoint.
            let unit = units.into_iter().next().expect("one unit");
            return if unit(&tx) { tx.commit() } else { tx.rollback() };
        }
        for unit in units {
            tx.prepare_cached("SAVEPOINT grouped_write")?.execute([])?;
            let ok = unit(&tx);
            if !ok {
                tx.prepare_cached("ROLLBACK TO grouped_write")?.execute([])?;
            }
            tx.prepare_cached("RELEASE grouped_write")?.execute([])?;
        }
        tx.commit()
    })();
    if let Err(error) = outcome {
        // Nothing of the batch was committed: every write in it, run or not, fails with the reason.
        for fail in failures {
            fail(&error);
        }
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
    use std::sync::Barrier;

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
