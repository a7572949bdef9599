//! Protected settings at rest until their agent fetches them. The backup engine publishes
//! a task's protected settings (SAS URIs, secrets) sealed with AES-256-GCM under a key
//! derived from the primary account's key, bound to the VM; the goal-state fetch opens
//! them and encrypts them to the VM's certificate (CMS, what the extension decrypts). The
//! RSA and CMS work of a burst of tasks thus happens as each agent fetches its task, not
//! on the dispatch's path, and the database never holds the SAS URIs in clear.
//!
//! Every replica is configured with the same account key (the SAS it mints must verify at
//! the blob endpoint), so any replica opens what another sealed. Settings sealed under a
//! key since rotated cannot be opened: the agent gets the extension without protected
//! settings, and the extension fails the task as it does for settings it cannot decrypt.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hkdf::Hkdf;
use secrecy::zeroize::Zeroizing;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sha2::Sha256;

use super::goal_state::{GoalState, HandlerState};
use super::GuestError;
use crate::control::cms::Recipient;
use crate::storage::AccountAccess;
use crate::store::Db;

/// The stored `handlerSettings` member that holds sealed protected settings; the agent
/// never sees it (the fetch replaces it by `protectedSettings` and its thumbprint).
pub const SEALED_PROTECTED_SETTINGS: &str = "protectedSettingsSealed";

/// What separates this key from anything else derived from the account key.
const KEY_INFO: &[u8] = b"vaultsim: protected settings sealed until their agent fetches them";
const NONCE_LEN: usize = 12;

/// The key protected settings are sealed with.
pub struct SettingsSeal {
    cipher: Aes256Gcm,
}

impl SettingsSeal {
    /// The seal of `account` (the primary, whose key every replica holds).
    pub fn for_account(account: &AccountAccess) -> Self {
        Self::for_key(account.key.expose_secret())
    }

    /// The seal of the account key `account_key` (decoded bytes).
    fn for_key(account_key: &[u8]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, account_key)
            .expand(KEY_INFO, key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_ref())),
        }
    }

    /// `plaintext` sealed for the VM `vm_id` alone: base64 of the nonce and the ciphertext.
    pub fn seal(&self, vm_id: &str, plaintext: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: vm_id.as_bytes(),
                },
            )
            .expect("AES-GCM seals any message shorter than 64 GiB");
        let mut framed = nonce.to_vec();
        framed.extend_from_slice(&sealed);
        STANDARD.encode(framed)
    }

    /// What [`SettingsSeal::seal`] sealed for `vm_id`; `None` when it was sealed for
    /// another VM, under another key, or is not sealed text at all.
    fn open(&self, vm_id: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        let framed = STANDARD.decode(sealed).ok()?;
        if framed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = framed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: vm_id.as_bytes(),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

/// Replaces the sealed protected settings of `goal_state`'s extensions by the same
/// settings encrypted to the certificate its VM's agent registered, as the agent must
/// receive them. Reads the certificate only when something is sealed.
pub async fn open_for_agent(
    db: &Db,
    seal: &SettingsSeal,
    goal_state: &mut GoalState,
) -> Result<(), GuestError> {
    let is_sealed = |extension: &HandlerState| {
        extension
            .handler_settings
            .get(SEALED_PROTECTED_SETTINGS)
            .is_some()
    };
    if !goal_state.extensions.iter().any(is_sealed) {
        return Ok(());
    }
    let certificate: Option<String> =
        sqlx::query_scalar("select certificate_pem from vm_guest where vm_id = $1")
            .bind(&goal_state.vm_id)
            .fetch_optional(db.pool())
            .await?;
    let recipient = match certificate {
        Some(pem) => Recipient::from_pem(&pem).map_err(|error| error.to_string()),
        None => Err("the VM has no registered agent certificate".to_owned()),
    };
    let vm_id = &goal_state.vm_id;
    for extension in &mut goal_state.extensions {
        let Some(settings) = extension.handler_settings.as_object_mut() else {
            continue;
        };
        let Some(sealed) = settings.remove(SEALED_PROTECTED_SETTINGS) else {
            continue;
        };
        let encrypted =
            recipient
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|recipient| {
                    let plaintext = sealed
                .as_str()
                .and_then(|sealed| seal.open(vm_id, sealed))
                .ok_or("the sealed protected settings could not be opened (sealed under another \
                        account key?)")?;
                    let envelope = recipient
                        .encrypt(&plaintext)
                        .map_err(|error| error.to_string())?;
                    Ok((recipient.thumbprint(), envelope))
                });
        match encrypted {
            Ok((thumbprint, envelope)) => {
                settings.insert(
                    "protectedSettingsCertThumbprint".to_owned(),
                    json!(thumbprint),
                );
                settings.insert(
                    "protectedSettings".to_owned(),
                    Value::String(STANDARD.encode(envelope)),
                );
            }
            Err(error) => tracing::error!(
                vm_id = %vm_id,
                extension = %extension.name,
                sequence_number = extension.sequence_number,
                %error,
                "the extension's protected settings cannot be delivered; it gets none"
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_sealed_for_a_vm_opens_for_that_vm_under_the_same_key() {
        let seal = SettingsSeal::for_key(&[7; 64]);
        let sealed = seal.seal("vm-1", b"sig=secret");
        assert!(!sealed.contains("secret"));
        assert_eq!(
            seal.open("vm-1", &sealed).as_deref().map(Vec::as_slice),
            Some(&b"sig=secret"[..])
        );
    }

    #[test]
    fn another_vm_another_key_or_altered_text_cannot_open_it() {
        let seal = SettingsSeal::for_key(&[7; 64]);
        let sealed = seal.seal("vm-1", b"sig=secret");
        assert!(seal.open("vm-2", &sealed).is_none(), "bound to its VM");
        assert!(SettingsSeal::for_key(&[8; 64])
            .open("vm-1", &sealed)
            .is_none());
        let mut altered = STANDARD.decode(&sealed).unwrap();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(seal.open("vm-1", &STANDARD.encode(altered)).is_none());
        assert!(seal.open("vm-1", "not base64!").is_none());
        assert!(seal.open("vm-1", "AAAA").is_none(), "shorter than a nonce");
    }

    #[test]
    fn each_seal_of_the_same_settings_differs() {
        let seal = SettingsSeal::for_key(&[7; 64]);
        assert_ne!(seal.seal("vm-1", b"x"), seal.seal("vm-1", b"x"));
    }
}
