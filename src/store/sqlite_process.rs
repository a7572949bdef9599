//! SQLite's process-wide settings, made before the first connection opens: sqlx sets
//! everything per connection, but these live in the library itself.

use std::os::raw::c_int;
use std::sync::Once;

use libsqlite3_sys as ffi;

/// Turns off SQLite's memory statistics. With them on (SQLite's default) every allocation
/// and free of every connection takes one process-wide mutex to update the counters; with
/// the eight reader connections and the writer each on its own sqlx worker thread, a page
/// of 200 jobs spent a quarter of its samples waiting on it or waking its waiters
/// (`sqlite3_value_dup`, `sqlite3VdbeMemGrow`, `vdbeMemClear`). Nothing here reads the
/// statistics (no soft or hard heap limit is set).
pub fn configure() {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        #[allow(unsafe_code)]
        // SAFETY: `sqlite3_config` must run before SQLite initializes and while no other
        // thread calls into SQLite. This process reaches SQLite only through `Db::connect`,
        // which calls this first, and `Once` holds every other caller until it returns. Had
        // something initialized SQLite already, the call would only answer SQLITE_MISUSE.
        // The variadic argument is the `int` SQLITE_CONFIG_MEMSTATUS takes.
        let code = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
        if code != ffi::SQLITE_OK {
            tracing::warn!(
                code,
                "SQLite was initialized before its memory statistics could be turned off; \
                 its connections contend on one lock"
            );
        }
    });
}

/// The bytes SQLite has counted as allocated: zero while the statistics are off.
#[cfg(test)]
fn memory_counted() -> i64 {
    #[allow(unsafe_code)]
    // SAFETY: a read of a counter, callable at any time from any thread.
    unsafe {
        ffi::sqlite3_memory_used()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[tokio::test]
    async fn sqlite_counts_no_allocations_once_a_database_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        db.migrate().await.unwrap();
        let vaults: i64 = sqlx::query_scalar("select count(*) from vault")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(vaults, 0);
        // With the statistics on, the open connections' caches and schemas count here.
        assert_eq!(memory_counted(), 0);
    }
}
