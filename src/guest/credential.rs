//! A VM's credential: `<vmId>.<random 256-bit secret, base64url>`. The vmId in front says
//! which row to check, so a request costs one indexed statement; only the credential's
//! SHA-256 is stored, so the database alone cannot be used to act as a VM.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::GuestError;
use crate::auth::directory::{new_secret, secret_digest};
use crate::store::{to_micros, Db};

/// A credential as issued, or as presented by an agent; its `Debug` output (logs, panics)
/// leaves no trace of it.
#[derive(Debug)]
pub struct Credential(SecretString);

impl Credential {
    /// A fresh credential for `vm_id`.
    pub fn issue(vm_id: &str) -> Self {
        Self(format!("{vm_id}.{}", new_secret()).into())
    }

    pub fn presented(text: &str) -> Self {
        Self(text.into())
    }

    /// What is handed to the agent, once.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }

    /// What `vm_guest.credential_sha256` stores.
    pub fn digest(&self) -> String {
        secret_digest(self.0.expose_secret())
    }

    fn vm_id(&self) -> Option<&str> {
        self.0
            .expose_secret()
            .split_once('.')
            .map(|(vm_id, _)| vm_id)
    }
}

/// The vmId whose current credential `credential` is, marking the VM's agent as seen at
/// `now`. 401 for anything else, including a credential replaced by a re-registration.
pub async fn authenticate(
    db: &Db,
    credential: &Credential,
    now: DateTime<Utc>,
) -> Result<String, GuestError> {
    let vm_id = credential.vm_id().ok_or(GuestError::Unauthenticated)?;
    // Comparing digests in SQL leaks nothing useful through timing: finding a string whose
    // SHA-256 matches a prefix of the stored one does not bring a caller closer to the secret.
    let updated = sqlx::query(
        "update vm_guest set last_seen_at = $3 where vm_id = $1 and credential_sha256 = $2",
    )
    .bind(vm_id)
    .bind(credential.digest())
    .bind(to_micros(now))
    .execute(db.writer())
    .await?;
    if updated.rows_affected() == 1 {
        Ok(vm_id.to_owned())
    } else {
        Err(GuestError::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_names_its_vm_and_differs_every_time() {
        let vm_id = "6b0e5c6e-43a4-4a5e-9d0c-7c1f3a1f2b10";
        let (a, b) = (Credential::issue(vm_id), Credential::issue(vm_id));
        assert_eq!(a.vm_id(), Some(vm_id));
        assert_ne!(a.reveal(), b.reveal());
        let secret = a.reveal().split_once('.').unwrap().1;
        assert_eq!(secret.len(), 43, "256 bits, base64url without padding");
        assert!(!format!("{a:?}").contains(secret), "{a:?}");
        assert_eq!(Credential::presented("no-dot").vm_id(), None);
    }
}
