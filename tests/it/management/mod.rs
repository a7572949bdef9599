//! The management API over HTTP, each test on SQLite and on PostgreSQL.

pub mod app;
mod auth;
mod az_surface;
mod compute;
mod jobs;
mod lifecycle;
mod policies;
pub mod protection;
mod vaults;
