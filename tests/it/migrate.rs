//! `vaultsim migrate`: the real binary applies the whole migration history and exits,
//! and a second run finds nothing left to do.

use std::process::Command;

use sqlx::Row;

use crate::management::app::PostgresDatabase;

fn migrate(data_dir: &std::path::Path, database_url: Option<&str>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vaultsim"));
    command.arg("migrate").arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let output = command.output().expect("the vaultsim binary runs");
    assert!(
        output.status.success(),
        "vaultsim migrate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn applied(data_dir: &std::path::Path, database_url: Option<&str>) -> Vec<i64> {
    let db = vaultsim::store::Db::connect(database_url, data_dir)
        .await
        .unwrap();
    let rows = sqlx::query("select version from _sqlx_migrations order by version")
        .fetch_all(db.pool())
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<i64, _>(0)).collect()
}

fn migration_files() -> Vec<i64> {
    let mut versions: Vec<i64> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".sql")?.split('_').next()?.parse().ok()
            })
            .collect();
    versions.sort_unstable();
    versions
}

#[tokio::test]
async fn migrate_applies_every_migration_to_a_new_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), None);
    migrate(dir.path(), None);
    assert!(dir.path().join("vaultsim.db").exists());
    assert_eq!(applied(dir.path(), None).await, migration_files());
}

#[tokio::test]
async fn migrate_applies_every_migration_to_a_new_postgres_database() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), Some(database.url()));
    migrate(dir.path(), Some(database.url()));
    let versions = applied(dir.path(), Some(database.url())).await;
    assert_eq!(versions, migration_files());
    assert!(!dir.path().join("vaultsim.db").exists());
}

/// A database migrated by the texts 0005 and 0007 first landed with (both were edited after
/// landing, tests/fixtures/migrations-first-landed): `vaultsim migrate` brings it to the
/// current schema instead of refusing it for a changed checksum.
async fn migrate_accepts_a_database_migrated_by_the_first_landed_texts(
    url: &str,
    data_dir: &std::path::Path,
) {
    let history = tempfile::tempdir().unwrap();
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let first = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/migrations-first-landed"
    );
    for entry in std::fs::read_dir(migrations).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(".sql") {
            continue;
        }
        let earlier = std::path::Path::new(first).join(&name);
        let source = if earlier.exists() {
            earlier
        } else {
            entry.path()
        };
        std::fs::copy(source, history.path().join(&name)).unwrap();
    }
    let db = vaultsim::store::Db::connect(Some(url), data_dir)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(history.path())
        .await
        .unwrap()
        .run(db.pool())
        .await
        .unwrap();
    migrate(data_dir, Some(url));
    migrate(data_dir, Some(url));
    let checksums: Vec<(i64, String)> =
        sqlx::query("select version, checksum from _sqlx_migrations order by version")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    vaultsim::store::migrations::hex(&r.get::<Vec<u8>, _>(1)),
                )
            })
            .collect();
    let landed: Vec<(i64, String)> = vaultsim::store::migrations::LANDED
        .iter()
        .map(|(v, c)| (*v, (*c).to_owned()))
        .collect();
    assert_eq!(checksums, landed);
    let index_columns = |index: &'static str| {
        let sql = match db.backend() {
            vaultsim::store::Backend::Sqlite => {
                format!("select count(*) from pragma_index_info('{index}')")
            }
            vaultsim::store::Backend::Postgres => format!(
                "select count(*) from pg_index i join pg_class c on c.oid = i.indexrelid, \
                 unnest(i.indkey) where c.relname = '{index}'"
            ),
        };
        let pool = db.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(index_columns("protected_item_by_next_backup").await, 3);
    assert_eq!(index_columns("backup_job_by_operation").await, 4);
    assert_eq!(index_columns("backup_job_by_status").await, 4);
}

#[tokio::test]
async fn migrate_brings_a_sqlite_file_migrated_by_edited_texts_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("vaultsim.db").display()
    );
    migrate_accepts_a_database_migrated_by_the_first_landed_texts(&url, dir.path()).await;
}

#[tokio::test]
async fn migrate_brings_a_postgres_database_migrated_by_edited_texts_up_to_date() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    migrate_accepts_a_database_migrated_by_the_first_landed_texts(database.url(), dir.path()).await;
}
