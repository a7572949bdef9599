//! The management API over HTTP, each test on SQLite and on PostgreSQL.

pub mod app;
mod auth;
mod az_surface;
mod compute;
mod concurrency;
mod deployments;
mod images;
mod jobs;
mod lifecycle;
mod network;
pub mod policies;
pub mod protection;
mod shared_secrets;
mod soak;
mod vaults;
