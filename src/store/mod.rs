//! The metadata database: a SQLite file in the data directory by default, PostgreSQL when
//! several replicas share one. Both run the same portable SQL (see `migrations/`) through
//! sqlx's `Any` driver; `Backend` says which one is behind a pool where the dialects differ.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Transaction};

use checkpoints::BackgroundCheckpoints;

mod checkpoints;
pub mod columns;
pub mod migrations;
mod sqlite_process;
pub mod statistics;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a SQLite connection waits for the write lock (`busy_timeout`) before it fails
/// with SQLITE_BUSY.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a pool connection. At least the busy timeout, and more: the
/// connections it waits for may each be waiting up to the busy timeout for the write lock,
/// then write. Shorter, and a request behind them fails while they would all succeed.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(BUSY_TIMEOUT.as_secs() + 5);
const _: () = assert!(ACQUIRE_TIMEOUT.as_secs() > BUSY_TIMEOUT.as_secs());

/// Whether `error` says the database is too busy now rather than broken: no connection
/// came free within the acquire timeout, SQLite's write lock stayed taken past the busy
/// timeout (SQLITE_BUSY, SQLITE_LOCKED and their extended codes), or PostgreSQL gave up on a
/// lock (`55P03` lock_not_available, `40P01` deadlock_detected). Sending the request again
/// later may succeed: the API answers 503 `ServerBusy` with `Retry-After`.
pub fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(e) => {
            let Some(code) = e.code() else {
                return false;
            };
            match code.parse::<i32>() {
                // SQLite's extended result codes keep the primary code in the low byte.
                Ok(sqlite) => matches!(sqlite & 0xff, 5 | 6),
                Err(_) => matches!(&*code, "55P03" | "40P01"),
            }
        }
        _ => false,
    }
}

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite's page cache per connection, in KiB.
#[derive(Debug, Clone, Copy)]
enum CacheSize {
    /// A reader's cache lasts only until another connection commits: its next read
    /// transaction starts by dropping every page (`pcache1TruncateUnsafe`, 4 % of the
    /// samples while recovery points were recorded, 2.5 % still with 2 MiB caches). While
    /// the writer commits hundreds of times a second a reader rarely reuses a page, so
    /// 512 KiB serves as well as SQLite's default 2 MiB (recording 100,000 points at
    /// 4,712–4,723/s against 4,422–4,767/s) and eight readers hold 4 MiB, not 16.
    Reader = 512,
    /// The writer's pages stay valid, as no other connection of the process writes: its
    /// cache keeps the indexes a burst of 100,000 items writes into.
    Writer = 32768,
}

/// A pool of connections to the metadata database, migrated.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// Where writes go. On SQLite a pool of one connection, so that writers queue in
    /// order here instead of in SQLite's busy handler, which sleeps between attempts
    /// (1, 2, 5, 10 ... 100 ms): 33,000 sleeps recording 10,000 recovery points, 6x slower
    /// than queueing. Its page cache also stays warm, as no other connection of the
    /// process invalidates it by writing. On PostgreSQL the one pool.
    writer: AnyPool,
    backend: Backend,
    /// SQLite's log copied back in the background; held here, so that the last clone of
    /// the `Db` to go stops it.
    _checkpoints: Option<Arc<BackgroundCheckpoints>>,
}

impl Db {
    /// Connects to `url`, or to `vaultsim.db` in `data_dir` when no URL is given.
    pub async fn connect(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let url = match url {
            Some(url) => url.to_owned(),
            None => {
                std::fs::create_dir_all(data_dir).with_context(|| {
                    format!("creating the data directory {}", data_dir.display())
                })?;
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("vaultsim.db").display()
                )
            }
        };
        let backend = if url.starts_with("sqlite:") {
            sqlite_process::configure();
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("the database URL must start with sqlite: or postgres:");
        };
        let options = |cache: CacheSize| {
            AnyPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL lets readers run beside the one writer; waiting for the
                            // write lock beats failing with SQLITE_BUSY; statement
                            // journals and sorts in memory, not in temporary files (a file
                            // written per statement that updates rows in a transaction).
                            // The committing writer copies the WAL back into the database
                            // once it holds 10,000 pages (40 MiB) rather than SQLite's
                            // 1,000; `checkpoints` copies it in the background meanwhile,
                            // so this one, which lets the log start over, finds little left.
                            conn.execute(&*format!(
                                "pragma journal_mode = wal; pragma synchronous = normal; \
                                 pragma foreign_keys = on; pragma busy_timeout = {}; \
                                 pragma cache_size = -{}; pragma temp_store = memory; \
                                 pragma wal_autocheckpoint = 10000;",
                                BUSY_TIMEOUT.as_millis(),
                                cache as u32
                            ))
                            .await?;
                        }
                        Ok(())
                    })
                })
        };
        let (options, writer_options) = match backend {
            Backend::Sqlite => (
                options(CacheSize::Reader).max_connections(8),
                Some(options(CacheSize::Writer).max_connections(1)),
            ),
            // Each connection is a server process: a few, kept busy, use a small machine's
            // cores better than many switching between each other. (The cache size is
            // SQLite's pragma; PostgreSQL's connections run none.)
            Backend::Postgres => (options(CacheSize::Reader).max_connections(6), None),
        };
        if backend == Backend::Postgres {
            // A pool that cannot reach its server only says "pool timed out": one
            // connection of our own says why (refused, unknown host, no such database...).
            if let Err(error) = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await {
                anyhow::bail!(
                    "cannot connect to the PostgreSQL database {}: {error}",
                    without_password(&url)
                );
            }
        }
        let connect = |options: AnyPoolOptions| {
            let url = url.clone();
            async move {
                options
                    .connect(&url)
                    .await
                    .with_context(|| format!("connecting to the {backend:?} metadata database"))
            }
        };
        let pool = connect(options).await?;
        let writer = match writer_options {
            Some(options) => connect(options).await?,
            None => pool.clone(),
        };
        let checkpoints = (backend == Backend::Sqlite)
            .then(|| Arc::new(BackgroundCheckpoints::start(pool.clone())));
        Ok(Self {
            pool,
            writer,
            backend,
            _checkpoints: checkpoints,
        })
    }

    /// Applies the migrations not yet applied.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrations::repair_edited(self)
            .await
            .context("bringing migrations applied from an earlier text up to date")?;
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying the database migrations")
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool a statement that writes outside a transaction runs on (see `writer`).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Begins a transaction that writes: every write transaction starts here. On SQLite it
    /// waits for the writer connection (up to the acquire timeout), then takes the write
    /// lock up front (`begin immediate`), waiting for it up to the busy timeout if another
    /// process holds it: a deferred transaction that has read cannot wait for the lock
    /// when it comes to write, and fails at once with SQLITE_BUSY while another writes.
    /// PostgreSQL locks rows as they are written. A write transaction must not use the
    /// pools meanwhile: the connections it would wait for may all be waiting for its lock.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("begin immediate").await,
            #[expect(
                clippy::disallowed_methods,
                reason = "the one place a write transaction begins on PostgreSQL"
            )]
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// `$first, $first+1, …`: `count` numbered placeholders for an `in (…)` list or one row
/// of a multi-row `values` (both backends take `$N`).
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $columns), ($columns+1, …), …`: the `values` of a multi-row insert.
pub fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Backend {
    /// The backend behind a connection (a transaction's, say).
    pub fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }

    /// A statement with many parameters, written with `$1, $2, …` each once and in order,
    /// in the form this backend binds fastest. sqlx binds a SQLite parameter by asking its
    /// name, and SQLite looks names up in a list walked from its start: n²/2 steps for a
    /// statement of n named parameters, an eighth of a dispatch whose bulk statements
    /// have 200–400. An anonymous `?` has no name and is bound by position, so SQLite
    /// gets those. A statement that names a parameter twice or out of order stays as it
    /// is (correct, only slower): bound by position, it would be bound wrong.
    pub fn bulk_statement(self, sql: String) -> String {
        match self {
            Self::Postgres => sql,
            Self::Sqlite => anonymous_parameters(&sql).unwrap_or(sql),
        }
    }

    /// How many transactions writing disjoint rows are worth running at once. SQLite has
    /// one writer, so a second would only queue behind the first. PostgreSQL runs each on
    /// its own connection, and one alone leaves the server waiting through every round
    /// trip: a burst's recording kept one backend at 90 % of a core while the other core
    /// was half idle.
    pub fn writers_at_once(self) -> usize {
        match self {
            Self::Sqlite => 1,
            Self::Postgres => 2,
        }
    }
}

/// `sql` with its parameters `$1 … $n` made anonymous (`?`), if each appears once, in order,
/// outside quotes.
fn anonymous_parameters(sql: &str) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1_u64;
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') => {
                let mut number = String::new();
                while let Some((_, digit)) = chars.next_if(|(_, d)| d.is_ascii_digit()) {
                    number.push(digit);
                }
                if number.parse::<u64>().ok()? != expected {
                    return None;
                }
                expected += 1;
                out.push('?');
                continue;
            }
            (None, _) => {}
        }
        out.push(c);
    }
    Some(out)
}

/// Microseconds since the Unix epoch, as times are stored.
pub fn to_micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Reads a JSON text column.
pub fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => anyhow::bail!("unknown backend {other}"),
        }
    }
}

/// A database URL fit for a message: its password replaced.
fn without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

/// A migrated SQLite database in `dir` holding tenant `t` and its subscription `s`: where
/// unit tests of what lives under a subscription start.
#[cfg(test)]
pub async fn with_subscription_for_tests(dir: &std::path::Path) -> Db {
    let db = Db::connect(None, dir).await.unwrap();
    db.migrate().await.unwrap();
    for statement in [
        "insert into tenant (tenant_id, display_name, created_at) values ('t', 't', 0)",
        "insert into subscription (subscription_id, tenant_id, display_name, state, \
         created_at) values ('s', 't', 's', 'Enabled', 0)",
    ] {
        sqlx::query(statement).execute(db.pool()).await.unwrap();
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[test]
    fn placeholders_number_lists_and_rows() {
        assert_eq!(placeholders(4, 3), "$4, $5, $6");
        assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn bulk_statements_bind_by_position_on_sqlite() {
        let sql = format!(
            "insert into t (a, b) values {} returning '$9', \"$8\"",
            value_rows(2, 2)
        );
        assert_eq!(
            Backend::Sqlite.bulk_statement(sql.clone()),
            "insert into t (a, b) values (?, ?), (?, ?) returning '$9', \"$8\""
        );
        assert_eq!(Backend::Postgres.bulk_statement(sql.clone()), sql);
        for kept in [
            "select 1 where a = $1 and b = $1",
            "select 1 where a = $2 and b = $1",
            "select 1 where a = $1 and b = $3",
            "select $ from t",
        ] {
            assert_eq!(Backend::Sqlite.bulk_statement(kept.to_owned()), kept);
        }
    }

    #[tokio::test]
    async fn sqlite_binds_numbered_parameters_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        sqlx::query("insert into tenant (tenant_id, display_name, created_at) values ($1, $2, $3)")
            .bind("t")
            .bind("name")
            .bind(5_i64)
            .execute(db.pool())
            .await
            .unwrap();
        let row = sqlx::query("select display_name, created_at from tenant where tenant_id = $1")
            .bind("t")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>(0), "name");
        assert_eq!(row.get::<i64, _>(1), 5);
        // Bound by position once anonymous: each value lands in its own column and row.
        let bulk = db.backend().bulk_statement(format!(
            "insert into tenant (tenant_id, display_name, created_at) values {}",
            value_rows(2, 3)
        ));
        assert!(bulk.contains('?'));
        sqlx::query(&bulk)
            .bind("u")
            .bind("first")
            .bind(6_i64)
            .bind("v")
            .bind("second")
            .bind(7_i64)
            .execute(db.pool())
            .await
            .unwrap();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "select tenant_id, display_name, created_at from tenant \
             where tenant_id in ('u', 'v') order by tenant_id",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(
            rows,
            [
                ("u".to_owned(), "first".to_owned(), 6),
                ("v".to_owned(), "second".to_owned(), 7)
            ]
        );
        let mode: String = sqlx::query_scalar("pragma journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let busy: i64 = sqlx::query_scalar("pragma busy_timeout")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
        // 2: MEMORY.
        let temp_store: i64 = sqlx::query_scalar("pragma temp_store")
            .fetch_one(db.writer())
            .await
            .unwrap();
        assert_eq!(temp_store, 2);
        // Writers queue for one connection in the process, not in SQLite's busy handler.
        assert_eq!(db.writer().options().get_max_connections(), 1);
        let mut first = db.begin_write().await.unwrap();
        sqlx::query("update tenant set display_name = 'first' where tenant_id = 't'")
            .execute(&mut *first)
            .await
            .unwrap();
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let mut second = db.begin_write().await.unwrap();
                sqlx::query("update tenant set display_name = 'second' where tenant_id = 't'")
                    .execute(&mut *second)
                    .await
                    .unwrap();
                second.commit().await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "the second writer waits for the first"
        );
        first.commit().await.unwrap();
        second.await.unwrap();
        let name: String = sqlx::query_scalar("select display_name from tenant")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(name, "second");
    }
}
