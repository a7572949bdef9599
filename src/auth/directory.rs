//! The directory in the metadata database: tenants, subscriptions, client principals and
//! the grants that let a principal address a subscription. Ids are lower-case GUIDs; ids a
//! client sends are lower-cased before any lookup, so they match case-insensitively.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use vaultsim_protocol::credentials::ClientCredentials;

use super::secrets::{self, BOOTSTRAP_CREDENTIALS};
use crate::resources::ResourceError;
use crate::store::{to_micros, Db};

/// The display name of the bootstrap tenant and subscription.
pub const BOOTSTRAP_NAME: &str = "vaultsim";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub tenant_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub subscription_id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub state: String,
}

/// A principal as stored.
#[derive(Debug, Clone)]
pub struct StoredPrincipal {
    pub client_id: String,
    pub tenant_id: String,
    pub is_admin: bool,
    pub secret_sha256: String,
}

/// The bootstrap credentials, and whether this call created them.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub credentials: ClientCredentials,
    pub created_here: bool,
}

/// A new principal and its one-time secret.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub client_id: String,
    pub client_secret: String,
    pub tenant_id: String,
    pub subscription_ids: Vec<String>,
}

/// A fresh lower-case GUID.
pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A random 256-bit client secret, base64url without padding (43 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a secret, lower-case hex, as `principal.secret_sha256` stores it.
pub fn secret_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `secret` hashes to `stored_hex`, comparing the digests in constant time (no
/// early exit on the first differing byte).
pub fn secret_matches(secret: &str, stored_hex: &str) -> bool {
    let presented = secret_digest(secret);
    let (a, b) = (presented.as_bytes(), stored_hex.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The bootstrap admin, if the directory was bootstrapped.
pub async fn bootstrap_admin(db: &Db) -> Result<Option<StoredPrincipal>, sqlx::Error> {
    sqlx::query(
        "select client_id, tenant_id, is_admin, secret_sha256 from principal \
         where is_admin = 1 order by created_at, client_id limit 1",
    )
    .fetch_optional(db.pool())
    .await?
    .map(|row| principal_of_row(&row))
    .transpose()
}

/// The bootstrap tenant, subscription, admin principal and grant, created by whichever
/// replica gets here first. The credentials are stored under a well-known name in the
/// transaction that creates what they name: a replica whose insert meets another's waits
/// for it, then answers the stored credentials and creates nothing.
pub async fn bootstrap(db: &Db, now: DateTime<Utc>) -> Result<Bootstrapped, sqlx::Error> {
    let candidate = ClientCredentials {
        tenant_id: new_guid(),
        subscription_id: new_guid(),
        client_id: new_guid(),
        client_secret: new_secret(),
    };
    let json = serde_json::to_string(&candidate).expect("credentials serialize");
    let mut tx = db.begin_write().await?;
    let stored = secrets::store_once_in(&mut tx, BOOTSTRAP_CREDENTIALS, &json, now).await?;
    if !stored.stored_here {
        tx.commit().await?;
        return Ok(Bootstrapped {
            credentials: parse_credentials(&stored.value)?,
            created_here: false,
        });
    }
    let credentials = candidate;
    let at = to_micros(now);
    sqlx::query("insert into tenant (tenant_id, display_name, created_at) values ($1, $2, $3)")
        .bind(&credentials.tenant_id)
        .bind(BOOTSTRAP_NAME)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    insert_subscription(
        &mut tx,
        &credentials.subscription_id,
        &credentials.tenant_id,
        BOOTSTRAP_NAME,
        at,
    )
    .await?;
    insert_principal(
        &mut tx,
        &credentials.client_id,
        &credentials.tenant_id,
        "vaultsim-admin",
        &secret_digest(&credentials.client_secret),
        true,
        at,
    )
    .await?;
    insert_grant(
        &mut tx,
        &credentials.client_id,
        &credentials.subscription_id,
    )
    .await?;
    tx.commit().await?;
    Ok(Bootstrapped {
        credentials,
        created_here: true,
    })
}

/// The bootstrap credentials the database holds, if any.
pub async fn stored_bootstrap(db: &Db) -> Result<Option<ClientCredentials>, sqlx::Error> {
    secrets::get(db.pool(), BOOTSTRAP_CREDENTIALS)
        .await?
        .map(|json| parse_credentials(&json))
        .transpose()
}

/// Stores `credentials`, which must be the existing admin's (an older data directory's
/// `credentials.json`), as the bootstrap credentials, unless some are stored already;
/// answers what is stored.
pub async fn store_bootstrap(
    db: &Db,
    credentials: &ClientCredentials,
    now: DateTime<Utc>,
) -> Result<ClientCredentials, sqlx::Error> {
    let json = serde_json::to_string(credentials).expect("credentials serialize");
    let stored = secrets::store_once(db, BOOTSTRAP_CREDENTIALS, &json, now).await?;
    parse_credentials(&stored.value)
}

fn parse_credentials(json: &SecretString) -> Result<ClientCredentials, sqlx::Error> {
    serde_json::from_str(json.expose_secret()).map_err(|e| sqlx::Error::ColumnDecode {
        index: "value".to_owned(),
        source: Box::new(e),
    })
}

pub async fn principal(db: &Db, client_id: &str) -> Result<Option<StoredPrincipal>, sqlx::Error> {
    sqlx::query(
        "select client_id, tenant_id, is_admin, secret_sha256 from principal where client_id = $1",
    )
    .bind(client_id.to_ascii_lowercase())
    .fetch_optional(db.pool())
    .await?
    .map(|row| principal_of_row(&row))
    .transpose()
}

pub async fn tenant(db: &Db, tenant_id: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query("select tenant_id, display_name from tenant where tenant_id = $1")
        .bind(tenant_id.to_ascii_lowercase())
        .fetch_optional(db.pool())
        .await?
        .map(|row| {
            Ok(Tenant {
                tenant_id: row.try_get("tenant_id")?,
                display_name: row.try_get("display_name")?,
            })
        })
        .transpose()
}

pub async fn subscription(
    db: &Db,
    subscription_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    sqlx::query(
        "select subscription_id, tenant_id, display_name, state from subscription \
         where subscription_id = $1",
    )
    .bind(subscription_id.to_ascii_lowercase())
    .fetch_optional(db.pool())
    .await?
    .map(|row| subscription_of_row(&row))
    .transpose()
}

pub async fn has_grant(
    db: &Db,
    client_id: &str,
    subscription_id: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "select 1 from subscription_grant where client_id = $1 and subscription_id = $2",
    )
    .bind(client_id.to_ascii_lowercase())
    .bind(subscription_id.to_ascii_lowercase())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// The subscriptions granted to `client_id`, oldest first.
pub async fn granted_subscriptions(
    db: &Db,
    client_id: &str,
) -> Result<Vec<Subscription>, sqlx::Error> {
    sqlx::query(
        "select s.subscription_id, s.tenant_id, s.display_name, s.state \
         from subscription s join subscription_grant g on g.subscription_id = s.subscription_id \
         where g.client_id = $1 order by s.created_at, s.subscription_id",
    )
    .bind(client_id.to_ascii_lowercase())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(subscription_of_row)
    .collect()
}

/// Creates a subscription in `tenant_id` and grants it to `owner`.
pub async fn create_subscription(
    db: &Db,
    tenant_id: &str,
    display_name: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<Subscription, sqlx::Error> {
    let subscription = Subscription {
        subscription_id: new_guid(),
        tenant_id: tenant_id.to_owned(),
        display_name: display_name.to_owned(),
        state: "Enabled".to_owned(),
    };
    let mut tx = db.begin_write().await?;
    insert_subscription(
        &mut tx,
        &subscription.subscription_id,
        tenant_id,
        display_name,
        to_micros(now),
    )
    .await?;
    insert_grant(&mut tx, owner, &subscription.subscription_id).await?;
    tx.commit().await?;
    Ok(subscription)
}

/// Creates a (non-admin) principal in `tenant_id` holding grants on `subscription_ids`,
/// which must all exist in that tenant. Nothing is created when one does not.
pub async fn create_principal(
    db: &Db,
    tenant_id: &str,
    display_name: &str,
    subscription_ids: &[String],
    now: DateTime<Utc>,
) -> Result<NewPrincipal, ResourceError> {
    let mut ids: Vec<String> = subscription_ids
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    ids.dedup();
    let principal = NewPrincipal {
        client_id: new_guid(),
        client_secret: new_secret(),
        tenant_id: tenant_id.to_owned(),
        subscription_ids: ids,
    };
    let mut tx = db.begin_write().await?;
    for id in &principal.subscription_ids {
        let tenant: Option<String> =
            sqlx::query_scalar("select tenant_id from subscription where subscription_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if tenant.as_deref() != Some(tenant_id) {
            return Err(subscription_not_found(id));
        }
    }
    insert_principal(
        &mut tx,
        &principal.client_id,
        tenant_id,
        display_name,
        &secret_digest(&principal.client_secret),
        false,
        to_micros(now),
    )
    .await?;
    for id in &principal.subscription_ids {
        insert_grant(&mut tx, &principal.client_id, id).await?;
    }
    tx.commit().await?;
    Ok(principal)
}

/// Grants `subscription_id` to `client_id`; `true` when the grant is new.
pub async fn grant(db: &Db, client_id: &str, subscription_id: &str) -> Result<bool, ResourceError> {
    let client_id = client_id.to_ascii_lowercase();
    let subscription_id = subscription_id.to_ascii_lowercase();
    let principal = principal(db, &client_id)
        .await?
        .ok_or_else(|| principal_not_found(&client_id))?;
    let subscription = subscription(db, &subscription_id)
        .await?
        .filter(|s| s.tenant_id == principal.tenant_id)
        .ok_or_else(|| subscription_not_found(&subscription_id))?;
    let inserted = sqlx::query(
        "insert into subscription_grant (client_id, subscription_id) values ($1, $2) \
         on conflict (client_id, subscription_id) do nothing",
    )
    .bind(&client_id)
    .bind(&subscription.subscription_id)
    .execute(db.writer())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Revokes a grant; 404 when there is none.
pub async fn revoke(db: &Db, client_id: &str, subscription_id: &str) -> Result<(), ResourceError> {
    let client_id = client_id.to_ascii_lowercase();
    let subscription_id = subscription_id.to_ascii_lowercase();
    if principal(db, &client_id).await?.is_none() {
        return Err(principal_not_found(&client_id));
    }
    let deleted =
        sqlx::query("delete from subscription_grant where client_id = $1 and subscription_id = $2")
            .bind(&client_id)
            .bind(&subscription_id)
            .execute(db.writer())
            .await?;
    if deleted.rows_affected() == 0 {
        return Err(ResourceError::not_found(
            "GrantNotFound",
            format!("The client '{client_id}' holds no grant on subscription '{subscription_id}'."),
        ));
    }
    Ok(())
}

/// Azure's 404 for a subscription that does not exist.
pub fn subscription_not_found(subscription_id: &str) -> ResourceError {
    ResourceError::not_found(
        "SubscriptionNotFound",
        format!("The subscription '{subscription_id}' could not be found."),
    )
}

fn principal_not_found(client_id: &str) -> ResourceError {
    ResourceError::not_found(
        "PrincipalNotFound",
        format!("No client with client id '{client_id}' exists."),
    )
}

async fn insert_subscription(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    subscription_id: &str,
    tenant_id: &str,
    display_name: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into subscription (subscription_id, tenant_id, display_name, state, created_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(subscription_id)
    .bind(tenant_id)
    .bind(display_name)
    .bind("Enabled")
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_principal(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    client_id: &str,
    tenant_id: &str,
    display_name: &str,
    secret_sha256: &str,
    is_admin: bool,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into principal (client_id, tenant_id, display_name, secret_sha256, is_admin, \
         created_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(client_id)
    .bind(tenant_id)
    .bind(display_name)
    .bind(secret_sha256)
    .bind(i64::from(is_admin))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_grant(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    client_id: &str,
    subscription_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into subscription_grant (client_id, subscription_id) values ($1, $2)")
        .bind(client_id)
        .bind(subscription_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn principal_of_row(row: &AnyRow) -> Result<StoredPrincipal, sqlx::Error> {
    Ok(StoredPrincipal {
        client_id: row.try_get("client_id")?,
        tenant_id: row.try_get("tenant_id")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        secret_sha256: row.try_get("secret_sha256")?,
    })
}

fn subscription_of_row(row: &AnyRow) -> Result<Subscription, sqlx::Error> {
    Ok(Subscription {
        subscription_id: row.try_get("subscription_id")?,
        tenant_id: row.try_get("tenant_id")?,
        display_name: row.try_get("display_name")?,
        state: row.try_get("state")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_stored_as_sha256_hex() {
        let secret = new_secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32);
        assert_ne!(secret, new_secret());
        assert_eq!(
            secret_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let stored = secret_digest(&secret);
        assert!(secret_matches(&secret, &stored));
        assert!(!secret_matches("wrong", &stored));
        assert!(!secret_matches(&secret, "short"));
    }

    #[tokio::test]
    async fn bootstrap_creates_an_admin_with_a_grant() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        db.migrate().await.unwrap();
        assert!(bootstrap_admin(&db).await.unwrap().is_none());
        let bootstrapped = bootstrap(&db, Utc::now()).await.unwrap();
        assert!(bootstrapped.created_here);
        let credentials = bootstrapped.credentials;
        let again = bootstrap(&db, Utc::now()).await.unwrap();
        assert!(!again.created_here);
        assert_eq!(again.credentials, credentials);
        assert_eq!(
            stored_bootstrap(&db).await.unwrap(),
            Some(credentials.clone())
        );
        let admin = bootstrap_admin(&db).await.unwrap().unwrap();
        assert_eq!(admin.client_id, credentials.client_id);
        assert!(admin.is_admin);
        assert!(secret_matches(
            &credentials.client_secret,
            &admin.secret_sha256
        ));
        let upper = credentials.subscription_id.to_ascii_uppercase();
        assert!(has_grant(&db, &credentials.client_id, &upper)
            .await
            .unwrap());
        let subscriptions = granted_subscriptions(&db, &credentials.client_id)
            .await
            .unwrap();
        assert_eq!(subscriptions.len(), 1);
        assert_eq!(subscriptions[0].display_name, BOOTSTRAP_NAME);
    }
}
