//! The bootstrap admin every replica shares, and the `credentials.json` each replica writes
//! for it into its own data directory.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use vaultsim_protocol::credentials::{self, ClientCredentials};

use super::directory::{self, StoredPrincipal};
use crate::store::Db;

/// The bootstrap admin: the one whose credentials the database holds, bootstrapped when
/// there is none. A database bootstrapped before credentials were kept there has an admin
/// whose secret only the first data directory's `credentials.json` holds: imported from
/// `data_dir` when the file there holds it, else that admin as it is. Writes
/// `credentials.json` into `data_dir` whenever the credentials are known.
pub async fn shared_admin(
    db: &Db,
    data_dir: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<StoredPrincipal> {
    let path = data_dir.join(credentials::FILE_NAME);
    // The admin first, the stored credentials second: a bootstrap stores both in one
    // transaction, so an admin seen without stored credentials after it is an older
    // bootstrap's, not one another replica is making now.
    let existing = directory::bootstrap_admin(db)
        .await
        .context("reading the bootstrap admin")?;
    let stored = directory::stored_bootstrap(db)
        .await
        .context("reading the bootstrap credentials")?;
    let credentials = match (stored, existing) {
        (Some(stored), _) => stored,
        (None, None) => {
            let bootstrapped = directory::bootstrap(db, now)
                .await
                .context("bootstrapping the tenant, subscription and admin client")?;
            let credentials = bootstrapped.credentials;
            if bootstrapped.created_here {
                tracing::info!(
                    tenant_id = %credentials.tenant_id,
                    subscription_id = %credentials.subscription_id,
                    client_id = %credentials.client_id,
                    "bootstrapped the tenant, subscription and admin client"
                );
            }
            credentials
        }
        (None, Some(admin)) => match import(db, &path, &admin, now).await? {
            Some(credentials) => credentials,
            None => return Ok(admin),
        },
    };
    write_credentials_file(&path, &credentials)?;
    directory::principal(db, &credentials.client_id)
        .await?
        .with_context(|| {
            format!(
                "the bootstrap credentials name the client {}, which the directory does not hold",
                credentials.client_id
            )
        })
}

/// Stores the credentials in an older data directory's `credentials.json` for every
/// replica, when they are `admin`'s (the secret matches its digest).
async fn import(
    db: &Db,
    path: &Path,
    admin: &StoredPrincipal,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<ClientCredentials>> {
    let from_file: Option<ClientCredentials> = match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let Some(from_file) = from_file.filter(|c| {
        c.client_id == admin.client_id
            && c.tenant_id == admin.tenant_id
            && directory::secret_matches(&c.client_secret, &admin.secret_sha256)
    }) else {
        tracing::warn!(
            path = %path.display(),
            client_id = %admin.client_id,
            "the database does not hold the bootstrap admin's secret, and this data \
             directory's credentials file does not either: replicas cannot write \
             credentials.json; use the one written on first start"
        );
        return Ok(None);
    };
    let stored = directory::store_bootstrap(db, &from_file, now)
        .await
        .context("storing the bootstrap credentials")?;
    tracing::info!(
        path = %path.display(),
        client_id = %stored.client_id,
        "the bootstrap admin's credentials imported into the database from the data directory"
    );
    Ok(Some(stored))
}

/// Writes `credentials.json`, unless it holds these credentials already.
fn write_credentials_file(path: &Path, credentials: &ClientCredentials) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(credentials).expect("credentials serialize");
    if fs::read(path).is_ok_and(|current| current == json) {
        return Ok(());
    }
    write_private_file(path, &json)?;
    tracing::info!(
        path = %path.display(),
        client_id = %credentials.client_id,
        "wrote the bootstrap admin's credentials"
    );
    Ok(())
}

/// Writes a file only its owner may read (0600), atomically: a temporary file in the same
/// directory, synced, then renamed over `path`.
fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .context("a private file needs a parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}
