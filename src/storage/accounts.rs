//! Several storage accounts, the way Azure spreads VM disks over accounts: each VM's disks
//! are placed in one account (by resource group, or round-robin), recorded on its disk
//! rows, and the engine follows each disk to its account. Vault copies and the status and
//! log blobs of backup tasks live in the first account, the primary.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Storage, StorageError};

/// How new VMs' disks are spread over the accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, strum::Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Placement {
    /// All VMs of a resource group in one account, chosen by the group's name.
    #[default]
    ByResourceGroup,
    /// Each new VM in the next account.
    RoundRobin,
}

/// The accounts this service keeps blobs in (at least one).
#[derive(Debug)]
pub struct StorageAccounts {
    accounts: Vec<Storage>,
    placement: Placement,
    next: AtomicUsize,
}

impl StorageAccounts {
    /// `accounts` must not be empty; their names must differ.
    pub fn new(accounts: Vec<Storage>, placement: Placement) -> anyhow::Result<Self> {
        anyhow::ensure!(!accounts.is_empty(), "no storage account is configured");
        for (i, account) in accounts.iter().enumerate() {
            let name = &account.account().name;
            anyhow::ensure!(
                !accounts[..i]
                    .iter()
                    .any(|other| other.account().name.eq_ignore_ascii_case(name)),
                "the storage account '{name}' is configured twice"
            );
        }
        Ok(Self {
            accounts,
            placement,
            next: AtomicUsize::new(0),
        })
    }

    /// One account.
    pub fn single(storage: Storage) -> Self {
        Self::new(vec![storage], Placement::default()).expect("one account is a valid set")
    }

    /// Where vault copies and task status and log blobs live.
    pub fn primary(&self) -> &Storage {
        &self.accounts[0]
    }

    pub fn all(&self) -> &[Storage] {
        &self.accounts
    }

    /// The account a new VM's disks go to.
    pub fn for_new_vm(&self, subscription: &str, group: &str) -> &Storage {
        let index = match self.placement {
            // A stable hash: every replica (and every version) places a group alike.
            Placement::ByResourceGroup => {
                let key = format!("{subscription}/{group}").to_ascii_lowercase();
                crc32fast::hash(key.as_bytes()) as usize
            }
            Placement::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed),
        };
        &self.accounts[index % self.accounts.len()]
    }

    /// The account named `name` (case-insensitive), or the primary for `None` (disks
    /// recorded before accounts were named).
    pub fn named(&self, name: Option<&str>) -> Result<&Storage, StorageError> {
        match name {
            None => Ok(self.primary()),
            Some(name) => self
                .accounts
                .iter()
                .find(|a| a.account().name.eq_ignore_ascii_case(name))
                .ok_or_else(|| StorageError::AccountNotConfigured(name.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::storage::{open_for_tests, AccountAccess, BlobStorage, EmbeddedStorage};

    fn accounts(names: &[&str], placement: Placement) -> (tempfile::TempDir, StorageAccounts) {
        let dir = tempfile::tempdir().unwrap();
        let (store, template) = open_for_tests(dir.path(), Clock::default());
        let storages: Vec<Storage> = names
            .iter()
            .map(|name| {
                let account = AccountAccess {
                    name: (*name).to_owned(),
                    ..template.account().clone()
                };
                Arc::new(EmbeddedStorage::new(
                    store.clone(),
                    Clock::default(),
                    account,
                )) as Storage
            })
            .collect();
        (dir, StorageAccounts::new(storages, placement).unwrap())
    }

    fn name(storage: &Storage) -> &str {
        &storage.account().name
    }

    #[test]
    fn a_resource_group_keeps_one_account_and_groups_spread_over_all() {
        let (_dir, set) = accounts(&["one", "two", "three"], Placement::ByResourceGroup);
        let first = name(set.for_new_vm("s", "rg-0")).to_owned();
        assert_eq!(
            name(set.for_new_vm("s", "RG-0")),
            first,
            "names are case-insensitive"
        );
        let used: std::collections::BTreeSet<String> = (0..60)
            .map(|i| name(set.for_new_vm("s", &format!("rg-{i}"))).to_owned())
            .collect();
        assert_eq!(used.len(), 3, "sixty groups use every account: {used:?}");
        assert_eq!(name(set.primary()), "one");
    }

    #[test]
    fn round_robin_takes_each_account_in_turn() {
        let (_dir, set) = accounts(&["one", "two"], Placement::RoundRobin);
        let names: Vec<String> = (0..4)
            .map(|_| name(set.for_new_vm("s", "rg")).to_owned())
            .collect();
        assert_eq!(names, ["one", "two", "one", "two"]);
    }

    #[test]
    fn accounts_are_found_by_name_and_an_unknown_one_is_an_error() {
        let (_dir, set) = accounts(&["one", "two"], Placement::RoundRobin);
        assert_eq!(name(set.named(Some("TWO")).unwrap()), "two");
        assert_eq!(name(set.named(None).unwrap()), "one");
        assert!(matches!(
            set.named(Some("three")),
            Err(StorageError::AccountNotConfigured(n)) if n == "three"
        ));
        let dir = tempfile::tempdir().unwrap();
        let (_, storage) = open_for_tests(dir.path(), Clock::default());
        let storage: Storage = Arc::new(storage);
        assert!(
            StorageAccounts::new(vec![storage.clone(), storage], Placement::RoundRobin).is_err()
        );
        assert!(StorageAccounts::new(Vec::new(), Placement::RoundRobin).is_err());
    }
}
