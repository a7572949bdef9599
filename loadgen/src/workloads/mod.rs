//! The benchmark workloads. Each prepares its own freshly named blob, measures one kind of
//! request, and returns the [`Report`](crate::report::Report) for it.

pub mod diff;
pub mod rand_write;
pub mod seq_read;
pub mod seq_write;
pub mod snapshot;
mod sparse_blob;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

/// A blob name no earlier run used, so every run starts from an empty blob.
fn unique_blob_name(workload: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{workload}-{nanos}")
}

/// `len` bytes of pseudo-random data drawn from `seed`, built once per run and shared by every
/// request, so that no request allocates or copies its payload. Random rather than zeros so
/// that no server can take a shortcut for all-zero pages.
fn payload(len: u64, seed: u64) -> Bytes {
    let mut state = seed;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            state = splitmix64(state);
            state.to_le_bytes()
        })
        .take(len as usize)
        .collect::<Vec<u8>>()
        .into()
}

/// SplitMix64: a stateless, well-mixed hash of a counter, used for reproducible random offsets
/// without a shared generator between workers.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
