//! The VMSnapshot extension.
pub mod decrypt;
pub mod storage;
