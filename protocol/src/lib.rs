//! Wire-level logic shared by the vaultsim service, agent and load generator: the Blob
//! service's XML documents, Azure Blob service SAS and Shared Key signing and checking, the
//! extension's settings and status, and the guest API's wire types. Pure functions, no I/O.

pub mod blob_xml;
pub mod extension;
pub mod guest;
pub mod sas;
pub mod shared_key;
pub mod signing;
