//! Replicas need nothing in common but the database: the token signing key and the
//! bootstrap credentials live there, created once by whichever replica starts first, so a
//! token one replica issued is accepted by another and every replica's `credentials.json`
//! names the same principal. A data directory from before keeps its principal and key.

use std::path::Path;

use futures_util::future::join_all;
use reqwest::Method;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use vaultsim::auth::keys::SigningKey;
use vaultsim::auth::Auth;
use vaultsim::clock::Clock;
use vaultsim::store::Db;
use vaultsim_protocol::credentials::{self, ClientCredentials};

use super::auth::kid_of;
use crate::management::app::{Backend, ManagementApp, PostgresDatabase};

/// Replicas started at once in the bootstrap race.
const REPLICAS: usize = 4;

fn credentials_in(dir: &Path) -> ClientCredentials {
    serde_json::from_slice(&std::fs::read(dir.join(credentials::FILE_NAME)).unwrap()).unwrap()
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

#[tokio::test]
async fn replicas_started_at_once_share_one_key_one_tenant_one_admin() {
    let database = PostgresDatabase::create().await;
    let dirs: Vec<tempfile::TempDir> = (0..REPLICAS)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let mut pools = Vec::new();
    for dir in &dirs {
        pools.push(Db::connect(Some(database.url()), dir.path()).await.unwrap());
    }
    pools[0].migrate().await.unwrap();
    let clock = Clock::default();
    let opened = join_all(
        dirs.iter()
            .zip(&pools)
            .map(|(dir, db)| Auth::open(dir.path(), db, &clock, true)),
    )
    .await;
    let opened: Vec<Auth> = opened.into_iter().map(Result::unwrap).collect();

    let first = credentials_in(dirs[0].path());
    for (auth, dir) in opened.iter().zip(&dirs) {
        assert_eq!(auth.jwk().kid, opened[0].jwk().kid, "one signing key");
        assert_eq!(auth.admin().client_id, first.client_id, "one admin");
        assert_eq!(credentials_in(dir.path()), first, "one credentials file");
    }
    let db = &pools[0];
    assert_eq!(count(db, "select count(*) from tenant").await, 1);
    assert_eq!(count(db, "select count(*) from subscription").await, 1);
    assert_eq!(count(db, "select count(*) from principal").await, 1);
    let stored: String = sqlx::query_scalar("select secret_sha256 from principal")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        stored,
        hex_sha256(&first.client_secret),
        "the secret in every file is the admin's"
    );
}

#[tokio::test]
async fn a_token_one_replica_issued_is_accepted_by_another() {
    let first = ManagementApp::spawn(Backend::Postgres).await;
    let second = first.replica().await;
    assert_eq!(second.credentials, first.credentials);
    assert_eq!(kid_of(&second).await, kid_of(&first).await);
    for (token, app) in [(&first.token, &second), (&second.token, &first)] {
        let listed = app
            .send_as(
                Some(token),
                Method::GET,
                "/subscriptions?api-version=2022-12-01",
                None,
            )
            .await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        assert_eq!(
            listed.body["value"][0]["subscriptionId"],
            first.credentials.subscription_id.as_str()
        );
    }
}

fn hex_sha256(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A data directory and database as the release before shared secrets left them: the
/// signing key in `jwt-signing-key.pem`, the admin's secret only in `credentials.json`
/// (its SHA-256 in the database). Answers the credentials and the key's id.
async fn old_layout(dir: &Path, database_url: Option<&str>) -> (ClientCredentials, String) {
    let db = Db::connect(database_url, dir).await.unwrap();
    db.migrate().await.unwrap();
    let credentials = ClientCredentials {
        tenant_id: uuid::Uuid::new_v4().to_string(),
        subscription_id: uuid::Uuid::new_v4().to_string(),
        client_id: uuid::Uuid::new_v4().to_string(),
        client_secret: "the-old-bootstrap-secret-0123456789abcdefghi".to_owned(),
    };
    for (sql, binds) in [
        (
            "insert into tenant (tenant_id, display_name, created_at) values ($1, 'vaultsim', 0)",
            vec![credentials.tenant_id.clone()],
        ),
        (
            "insert into subscription (subscription_id, tenant_id, display_name, state, \
             created_at) values ($1, $2, 'vaultsim', 'Enabled', 0)",
            vec![
                credentials.subscription_id.clone(),
                credentials.tenant_id.clone(),
            ],
        ),
        (
            "insert into principal (client_id, tenant_id, display_name, secret_sha256, \
             is_admin, created_at) values ($1, $2, 'vaultsim-admin', $3, 1, 0)",
            vec![
                credentials.client_id.clone(),
                credentials.tenant_id.clone(),
                hex_sha256(&credentials.client_secret),
            ],
        ),
        (
            "insert into subscription_grant (client_id, subscription_id) values ($1, $2)",
            vec![
                credentials.client_id.clone(),
                credentials.subscription_id.clone(),
            ],
        ),
    ] {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(db.pool()).await.unwrap();
    }
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(dir.join("jwt-signing-key.pem"), pem.as_bytes()).unwrap();
    std::fs::write(
        dir.join(credentials::FILE_NAME),
        serde_json::to_vec_pretty(&credentials).unwrap(),
    )
    .unwrap();
    (credentials, SigningKey::from_key(&key).unwrap().kid)
}

/// The old data directory's principal and key carry over into the database: the service
/// serves them, and with both files gone a restart (and on PostgreSQL, another replica
/// with a data directory of its own) writes the same credentials and signs with the same
/// key.
async fn an_old_data_directory_keeps_its_principal_and_key(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PostgresDatabase::create().await),
    };
    let (credentials, kid) = old_layout(dir.path(), database.as_ref().map(|d| d.url())).await;
    let mut app = ManagementApp::spawn_in(dir, database).await;
    assert_eq!(app.credentials, credentials);
    assert_eq!(kid_of(&app).await, kid);
    let db = app.db().await;
    assert_eq!(count(&db, "select count(*) from principal").await, 1);
    assert_eq!(count(&db, "select count(*) from tenant").await, 1);

    if backend == Backend::Postgres {
        let replica = app.replica().await;
        assert_eq!(replica.credentials, credentials);
        assert_eq!(kid_of(&replica).await, kid);
    }
    let files = app.data_dir.path();
    std::fs::remove_file(files.join("jwt-signing-key.pem")).unwrap();
    std::fs::remove_file(files.join(credentials::FILE_NAME)).unwrap();
    app.crash_and_restart().await;
    assert_eq!(credentials_in(app.data_dir.path()), credentials);
    assert_eq!(kid_of(&app).await, kid);
    let listed = app.get("/subscriptions?api-version=2022-12-01").await;
    assert_eq!(listed.status, 200, "the token from before still works");
}

#[tokio::test]
async fn an_old_sqlite_data_directory_keeps_its_principal_and_key() {
    an_old_data_directory_keeps_its_principal_and_key(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_old_postgres_data_directory_keeps_its_principal_and_key() {
    an_old_data_directory_keeps_its_principal_and_key(Backend::Postgres).await;
}

/// A `credentials.json` that does not hold the admin's secret is not imported: the service
/// works as before, with the admin it has, and leaves the file as it is.
#[tokio::test]
async fn a_credentials_file_that_does_not_match_is_not_imported() {
    let dir = tempfile::tempdir().unwrap();
    let (credentials, kid) = old_layout(dir.path(), None).await;
    let wrong = ClientCredentials {
        client_secret: "not-the-secret-whose-digest-is-stored-000000".to_owned(),
        ..credentials.clone()
    };
    let file = serde_json::to_vec_pretty(&wrong).unwrap();
    std::fs::write(dir.path().join(credentials::FILE_NAME), &file).unwrap();
    let db = Db::connect(None, dir.path()).await.unwrap();
    let auth = Auth::open(dir.path(), &db, &Clock::default(), true)
        .await
        .unwrap();
    assert_eq!(auth.admin().client_id, credentials.client_id);
    assert_eq!(auth.jwk().kid, kid);
    assert_eq!(
        std::fs::read(dir.path().join(credentials::FILE_NAME)).unwrap(),
        file
    );
    assert_eq!(
        count(
            &db,
            "select count(*) from service_secret where name = 'bootstrap-credentials'"
        )
        .await,
        0
    );
    assert_eq!(count(&db, "select count(*) from principal").await, 1);
}
