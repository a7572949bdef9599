//! Scanning the image against the shadow: find where data may be (SEEK_DATA/SEEK_HOLE), read
//! it in large chunks on every core, hash each block, and turn what differs from the shadow
//! into page writes, coalesced.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc::Sender;
use vaultsim_protocol::page_blob::MAX_PUT_PAGE_BYTES;
use xxhash_rust::xxh3::xxh3_128;

use super::shadow::BlockState;

/// The unit of change tracking. Small enough that a scattered change uploads little more
/// than what changed, large enough that the shadow of a 4 GiB disk is 65,536 entries.
pub(crate) const BLOCK_SIZE: u64 = 64 * 1024;

/// One read, and the largest Put Page the service accepts: reads are aligned to it, so a
/// run of changed blocks within one read is always one request.
pub(crate) const READ_SIZE: u64 = MAX_PUT_PAGE_BYTES;

const BLOCKS_PER_READ: u64 = READ_SIZE / BLOCK_SIZE;

/// A change to the blob, in blocks of the image.
#[derive(Debug)]
pub(crate) enum PageWrite {
    /// Put Page update of `data` at block `first_block`; `states` are the blocks' new
    /// shadow entries.
    Update {
        first_block: u64,
        data: Bytes,
        states: Vec<BlockState>,
    },
    /// Put Page clear of `block_count` blocks from `first_block` (now holes or zeros).
    Clear { first_block: u64, block_count: u64 },
}

/// A stretch of blocks within one `READ_SIZE`-aligned window that may hold data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadUnit {
    first_block: u64,
    block_count: u64,
}

/// The byte ranges `[start, end)` of `file` below `size` that may hold data, according to
/// SEEK_DATA/SEEK_HOLE. Where the filesystem does not tell, the whole file.
pub(crate) fn data_extents(file: &File, size: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut extents = Vec::new();
    let mut at = 0;
    while at < size {
        let start = match seek(file, at, libc::SEEK_DATA) {
            Ok(Some(start)) => start,
            Ok(None) => break,
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) && extents.is_empty() => {
                return Ok(vec![(0, size)]);
            }
            Err(error) => return Err(error),
        };
        if start >= size {
            break;
        }
        let end = seek(file, start, libc::SEEK_HOLE)?
            .unwrap_or(size)
            .min(size);
        extents.push((start, end));
        at = end;
    }
    Ok(extents)
}

/// `lseek(2)`; `None` for ENXIO (no data, or no hole, at or after `offset`). Only the
/// scanning thread seeks, and every read is positioned (`pread`), so moving the file offset
/// disturbs nothing.
#[allow(unsafe_code)]
fn seek(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: lseek takes no pointers; the descriptor belongs to `file`, which is borrowed
    // and therefore open for the whole call.
    let position = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    if position < 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(error);
    }
    Ok(Some(position as u64))
}

/// The blocks to read: the data extents widened to whole blocks and cut at `READ_SIZE`
/// boundaries. Extents that end up sharing or touching a block merge; holes between extents
/// are never read (zeros cost as much to read and check as data).
pub(crate) fn read_units(extents: &[(u64, u64)]) -> Vec<ReadUnit> {
    let mut units: Vec<ReadUnit> = Vec::new();
    for &(start, end) in extents {
        let mut block = start / BLOCK_SIZE;
        let end_block = end.div_ceil(BLOCK_SIZE);
        while block < end_block {
            let window_end = (block / BLOCKS_PER_READ + 1) * BLOCKS_PER_READ;
            let stop = end_block.min(window_end);
            match units.last_mut() {
                Some(last)
                    if last.first_block / BLOCKS_PER_READ == block / BLOCKS_PER_READ
                        && last.first_block + last.block_count >= block =>
                {
                    last.block_count = stop - last.first_block;
                }
                _ => units.push(ReadUnit {
                    first_block: block,
                    block_count: stop - block,
                }),
            }
            block = stop;
        }
    }
    units
}

/// Clears for every block outside `units` (a hole in the image) that the shadow does not
/// know as zero, coalesced into runs.
pub(crate) fn hole_clears(units: &[ReadUnit], shadow: &[BlockState]) -> Vec<PageWrite> {
    let mut clears = Vec::new();
    let mut run: Option<(u64, u64)> = None;
    let mut gap_start = 0;
    let gaps = units
        .iter()
        .map(|u| (u.first_block, u.first_block + u.block_count))
        .chain([(shadow.len() as u64, shadow.len() as u64)]);
    for (unit_start, unit_end) in gaps {
        for block in gap_start..unit_start {
            if shadow[block as usize] == BlockState::Zero {
                flush_clear(&mut run, &mut clears);
            } else {
                match &mut run {
                    Some((_, count)) => *count += 1,
                    None => run = Some((block, 1)),
                }
            }
        }
        flush_clear(&mut run, &mut clears);
        gap_start = unit_end;
    }
    clears
}

fn flush_clear(run: &mut Option<(u64, u64)>, clears: &mut Vec<PageWrite>) {
    if let Some((first_block, block_count)) = run.take() {
        clears.push(PageWrite::Clear {
            first_block,
            block_count,
        });
    }
}

/// Reads and hashes `units` on `workers` threads and sends every page write that brings the
/// blob from `shadow` to the image down `writes`, as soon as it is known (so uploads overlap
/// the scan). Returns the bytes read. Stops early, without error, when the receiver is gone.
pub(crate) fn scan(
    file: &File,
    image_size: u64,
    units: &[ReadUnit],
    shadow: &[BlockState],
    workers: usize,
    writes: &Sender<PageWrite>,
) -> io::Result<u64> {
    let next_unit = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut buffer = vec![0u8; READ_SIZE as usize];
                    let mut read_bytes = 0;
                    loop {
                        let Some(unit) = units.get(next_unit.fetch_add(1, Ordering::Relaxed))
                        else {
                            return Ok(read_bytes);
                        };
                        let start = unit.first_block * BLOCK_SIZE;
                        let length = (unit.block_count * BLOCK_SIZE).min(image_size - start);
                        let data = &mut buffer[..length as usize];
                        file.read_exact_at(data, start)?;
                        read_bytes += length;
                        let keep_going = diff_unit(unit.first_block, data, shadow, |write| {
                            writes.blocking_send(write).is_ok()
                        });
                        if !keep_going {
                            return Ok(read_bytes);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().try_fold(0, |total, handle| {
            let read_bytes: io::Result<u64> = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok(total + read_bytes?)
        })
    })
}

/// What one block holds now. The zero check comes first: it stops at the first non-zero
/// bytes of a data block, and spares a zero block the hash.
fn classify(block: &[u8]) -> BlockState {
    if is_all_zero(block) {
        BlockState::Zero
    } else {
        BlockState::Data(xxh3_128(block))
    }
}

/// OR-folding 64 bytes at a time lets the compiler use vector registers, where a
/// byte-by-byte `all` would not.
fn is_all_zero(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    chunks.all(|chunk| chunk.iter().fold(0, |acc, &b| acc | b) == 0)
        && chunks.remainder().iter().all(|&b| b == 0)
}

/// Compares the blocks of one read (starting at block `first_block`) with the shadow and
/// emits the runs of blocks to update and to clear. Returns false as soon as `emit` does.
fn diff_unit(
    first_block: u64,
    data: &[u8],
    shadow: &[BlockState],
    mut emit: impl FnMut(PageWrite) -> bool,
) -> bool {
    /// A run of adjacent blocks needing the same kind of write: index of its first block
    /// within `data`, and the new states of an update run.
    enum Run {
        Update(usize, Vec<BlockState>),
        Clear(usize, u64),
    }
    let finish = |run: Run| match run {
        Run::Update(first, states) => {
            let start = first * BLOCK_SIZE as usize;
            let end = (start + states.len() * BLOCK_SIZE as usize).min(data.len());
            PageWrite::Update {
                first_block: first_block + first as u64,
                data: Bytes::copy_from_slice(&data[start..end]),
                states,
            }
        }
        Run::Clear(first, block_count) => PageWrite::Clear {
            first_block: first_block + first as u64,
            block_count,
        },
    };
    let mut run: Option<Run> = None;
    for (index, block) in data.chunks(BLOCK_SIZE as usize).enumerate() {
        let now = classify(block);
        let changed = now != shadow[(first_block + index as u64) as usize];
        match (&mut run, now) {
            (Some(Run::Update(_, states)), BlockState::Data(_)) if changed => {
                states.push(now);
                continue;
            }
            (Some(Run::Clear(_, count)), BlockState::Zero) if changed => {
                *count += 1;
                continue;
            }
            _ => {}
        }
        // An unchanged block, or one needing the other kind of write, ends the run.
        if let Some(finished) = run.take() {
            if !emit(finish(finished)) {
                return false;
            }
        }
        if changed {
            run = Some(match now {
                BlockState::Zero => Run::Clear(index, 1),
                _ => Run::Update(index, vec![now]),
            });
        }
    }
    run.is_none_or(|finished| emit(finish(finished)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u64 = BLOCK_SIZE;

    #[test]
    fn extents_widen_to_blocks_and_merge_only_where_they_touch() {
        let units = read_units(&[(0, 10), (B + 5, 2 * B), (3 * B, 3 * B + 1)]);
        assert_eq!(
            units,
            vec![
                ReadUnit {
                    first_block: 0,
                    block_count: 2
                },
                ReadUnit {
                    first_block: 3,
                    block_count: 1
                }
            ]
        );
    }

    #[test]
    fn extents_split_at_read_windows() {
        let units = read_units(&[(READ_SIZE - B, READ_SIZE + B)]);
        assert_eq!(
            units,
            vec![
                ReadUnit {
                    first_block: BLOCKS_PER_READ - 1,
                    block_count: 1
                },
                ReadUnit {
                    first_block: BLOCKS_PER_READ,
                    block_count: 1
                },
            ]
        );
    }

    #[test]
    fn holes_the_shadow_thinks_hold_data_are_cleared_in_runs() {
        let mut shadow = vec![BlockState::Zero; 8];
        shadow[1] = BlockState::Data(7);
        shadow[2] = BlockState::Unknown;
        shadow[5] = BlockState::Data(9); // inside the read unit: the scan decides
        shadow[7] = BlockState::Unknown;
        let units = [ReadUnit {
            first_block: 4,
            block_count: 2,
        }];
        let clears: Vec<_> = hole_clears(&units, &shadow)
            .into_iter()
            .map(|w| match w {
                PageWrite::Clear {
                    first_block,
                    block_count,
                } => (first_block, block_count),
                PageWrite::Update { .. } => panic!("holes are only cleared"),
            })
            .collect();
        assert_eq!(clears, vec![(1, 2), (7, 1)]);
    }

    #[test]
    fn changed_blocks_coalesce_and_unchanged_ones_split_runs() {
        let mut data = vec![0u8; 6 * B as usize];
        for (index, byte) in [(0, 1u8), (1, 2), (3, 3), (5, 4)] {
            data[index * B as usize] = byte;
        }
        // The shadow covers the whole disk; this read starts at block 10.
        let mut shadow = vec![BlockState::Unknown; 16];
        shadow[13] = classify(&data[3 * B as usize..4 * B as usize]);
        shadow[12] = BlockState::Data(1); // now zero: cleared
        shadow[14] = BlockState::Zero; // still zero: untouched
        let mut writes = Vec::new();
        assert!(diff_unit(10, &data, &shadow, |w| {
            writes.push(w);
            true
        }));
        let summary: Vec<_> = writes
            .iter()
            .map(|w| match w {
                PageWrite::Update {
                    first_block,
                    data,
                    states,
                } => ("update", *first_block, data.len() as u64 / B, states.len()),
                PageWrite::Clear {
                    first_block,
                    block_count,
                } => ("clear", *first_block, *block_count, 0),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("update", 10, 2, 2),
                ("clear", 12, 1, 0),
                ("update", 15, 1, 1)
            ]
        );
    }

    #[test]
    fn only_blocks_of_nothing_but_zeros_are_zero() {
        assert_eq!(classify(&[0; 512]), BlockState::Zero);
        assert_eq!(classify(&[0; B as usize]), BlockState::Zero);
        let mut last_byte_set = vec![0; B as usize];
        last_byte_set[B as usize - 1] = 1;
        assert_eq!(
            classify(&last_byte_set),
            BlockState::Data(xxh3_128(&last_byte_set))
        );
    }
}
