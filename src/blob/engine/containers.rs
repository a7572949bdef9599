//! Containers: create, delete, properties, metadata, stored access policies (ACL) and
//! List Containers.

use super::conditions::{Access, Conditions};
use super::model::{Metadata, PublicAccess, SignedIdentifier};
use super::record::Record;
use super::{BlobStore, ContainerInfo, StoreError};

impl BlobStore {
    pub fn create_container(
        &self,
        name: &str,
        metadata: Metadata,
        public_access: Option<PublicAccess>,
    ) -> Result<ContainerInfo, StoreError> {
        let mut state = self.state.lock();
        if state.containers.contains_key(name) {
            return Err(StoreError::ContainerAlreadyExists);
        }
        let stamp = self.stamp(&mut state);
        state.commit(Record::CreateContainer {
            name: name.to_owned(),
            metadata,
            public_access,
            stamp,
        })?;
        Ok(ContainerInfo::of(name, &state.containers[name]))
    }

    pub fn delete_container(&self, name: &str, conditions: &Conditions) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let c = state.container(name)?;
        conditions.check(Some((c.etag, c.modified)), Access::Write)?;
        state.commit(Record::DeleteContainer {
            name: name.to_owned(),
        })?;
        self.garbage.notify_one();
        Ok(())
    }

    pub fn container(&self, name: &str) -> Result<ContainerInfo, StoreError> {
        let state = self.state.lock();
        Ok(ContainerInfo::of(name, state.container(name)?))
    }

    pub fn set_container_metadata(
        &self,
        name: &str,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<ContainerInfo, StoreError> {
        let mut state = self.state.lock();
        let c = state.container(name)?;
        conditions.check(Some((c.etag, c.modified)), Access::Write)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::SetContainerMetadata {
            name: name.to_owned(),
            metadata,
            stamp,
        })?;
        Ok(ContainerInfo::of(name, &state.containers[name]))
    }

    pub fn set_container_acl(
        &self,
        name: &str,
        public_access: Option<PublicAccess>,
        identifiers: Vec<SignedIdentifier>,
        conditions: &Conditions,
    ) -> Result<ContainerInfo, StoreError> {
        let mut state = self.state.lock();
        let c = state.container(name)?;
        conditions.check(Some((c.etag, c.modified)), Access::Write)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::SetContainerAcl {
            name: name.to_owned(),
            public_access,
            identifiers,
            stamp,
        })?;
        Ok(ContainerInfo::of(name, &state.containers[name]))
    }

    /// Containers whose name starts with `prefix`, after `marker`, at most `max`.
    pub fn list_containers(
        &self,
        prefix: &str,
        marker: Option<&str>,
        max: usize,
    ) -> (Vec<ContainerInfo>, Option<String>) {
        let state = self.state.lock();
        let mut names = state
            .containers
            .range::<str, _>((
                marker.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Included),
                std::ops::Bound::Unbounded,
            ))
            .filter(|(name, _)| name.starts_with(prefix));
        let page: Vec<ContainerInfo> = names
            .by_ref()
            .take(max)
            .map(|(name, c)| ContainerInfo::of(name, c))
            .collect();
        let next = names.next().map(|(name, _)| name.clone());
        (page, next)
    }
}
