//! The snapshot extension's wire formats. (to be written)
