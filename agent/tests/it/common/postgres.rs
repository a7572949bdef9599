//! A fresh PostgreSQL database per test, on the server `VAULTSIM_TEST_POSTGRES_URL` names
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards.

use sqlx::Connection;

pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    pub async fn create() -> PostgresDatabase {
        let admin_url = std::env::var("VAULTSIM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("vaultsim_agent_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect(&admin_url).await;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        PostgresDatabase {
            admin_url,
            name,
            url,
        }
    }
}

async fn connect(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {url} ({e}); set VAULTSIM_TEST_POSTGRES_URL")
    })
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = connect(&admin_url).await;
                let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut admin)
                    .await;
            });
        })
        .join();
    }
}
