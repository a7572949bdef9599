//! `vaultsim migrate`: the real binary applies the whole migration history and exits,
//! and a second run finds nothing left to do.

use std::process::Command;

use sqlx::Row;

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
    use sqlx::Connection;
    let admin_url = std::env::var("VAULTSIM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("vaultsim_migrate_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL reachable at VAULTSIM_TEST_POSTGRES_URL");
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), Some(&url));
    migrate(dir.path(), Some(&url));
    let versions = applied(dir.path(), Some(&url)).await;
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(versions, migration_files());
    assert!(!dir.path().join("vaultsim.db").exists());
}
