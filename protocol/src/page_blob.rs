//! The units of a page blob (every VM disk is one), which the blob endpoint enforces and
//! every writer of page blobs keeps to.

/// Bytes in a page, the unit of every page blob operation: sizes and Put Page ranges are
/// multiples of it.
pub const PAGE_SIZE: u64 = 512;

/// Most bytes one Put Page update may carry (4 MiB).
pub const MAX_PUT_PAGE_BYTES: u64 = 4 << 20;
