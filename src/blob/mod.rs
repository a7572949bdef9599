//! The Azure-Blob-compatible endpoint: its storage engine and its HTTP surface.

pub mod engine;
pub mod http;
