//! Secrets every replica must hold the same (`service_secret`): created once, by whichever
//! replica needs one first, and read by the rest. Creating is an insert that does nothing
//! when the name is taken, followed by a read of what is stored, so replicas racing to
//! create one all end up with the one that was stored first.

use secrecy::SecretString;
use sqlx::{Any, Executor, Transaction};

use crate::store::{to_micros, Db};

/// The token signing key, PKCS#8 PEM.
pub const TOKEN_SIGNING_KEY: &str = "token-signing-key";
/// The bootstrap admin's credentials, the JSON of `credentials.json`.
pub const BOOTSTRAP_CREDENTIALS: &str = "bootstrap-credentials";

/// A secret as stored, and whether this call stored it.
pub struct StoredSecret {
    pub value: SecretString,
    /// `false`: another replica (or an earlier start) stored it first.
    pub stored_here: bool,
}

/// The secret stored under `name`, if any.
pub async fn get<'e>(
    executor: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<SecretString>, sqlx::Error> {
    let value: Option<String> =
        sqlx::query_scalar("select value from service_secret where name = $1")
            .bind(name)
            .fetch_optional(executor)
            .await?;
    Ok(value.map(SecretString::from))
}

/// Stores `value` under `name` unless something is stored there already, and answers what
/// is stored now. In `tx`, so that what the secret names can be created with it: a replica
/// whose insert meets another's uncommitted one waits for it to commit, then reads it.
pub async fn store_once_in(
    tx: &mut Transaction<'static, Any>,
    name: &str,
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<StoredSecret, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into service_secret (name, value, created_at) values ($1, $2, $3) \
         on conflict (name) do nothing",
    )
    .bind(name)
    .bind(value)
    .bind(to_micros(now))
    .execute(&mut **tx)
    .await?;
    let value = get(&mut **tx, name)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(StoredSecret {
        value,
        stored_here: inserted.rows_affected() == 1,
    })
}

/// `store_once_in` a transaction of its own.
pub async fn store_once(
    db: &Db,
    name: &str,
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<StoredSecret, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let stored = store_once_in(&mut tx, name, value, now).await?;
    tx.commit().await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[tokio::test]
    async fn the_first_value_stored_stays() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        db.migrate().await.unwrap();
        assert!(get(db.pool(), "s").await.unwrap().is_none());
        let now = chrono::Utc::now();
        let first = store_once(&db, "s", "one", now).await.unwrap();
        assert!(first.stored_here);
        assert_eq!(first.value.expose_secret(), "one");
        let second = store_once(&db, "s", "two", now).await.unwrap();
        assert!(!second.stored_here);
        assert_eq!(second.value.expose_secret(), "one");
        let read = get(db.pool(), "s").await.unwrap().unwrap();
        assert_eq!(read.expose_secret(), "one");
    }
}
