//! Wire-level logic shared by the vaultsim service, agent and load generator: the Blob
//! service's XML documents, Azure Blob service SAS and Shared Key signing and checking, the
//! extension's settings and status, the guest API's wire types, the bootstrap credentials
//! file, the certificate thumbprint, and the page blob and disk numbers both sides rely on.
//! Pure functions, no I/O.

pub mod blob_xml;
pub mod certificate;
pub mod credentials;
pub mod disk;
pub mod extension;
pub mod guest;
pub mod page_blob;
pub mod sas;
pub mod shared_key;
pub mod signing;
