//! Read pins: a read that streams blob data holds a pin, so that the garbage collector
//! never punches out data a reader captured before the collector marked what is live.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct ReadPins {
    state: Mutex<PinState>,
}

#[derive(Debug, Default)]
struct PinState {
    epoch: u64,
    readers: BTreeMap<u64, usize>,
}

/// Held for as long as a read may touch segment data.
#[derive(Debug)]
pub struct ReadPin {
    pins: Arc<ReadPins>,
    epoch: u64,
}

impl ReadPins {
    pub fn pin(self: &Arc<Self>) -> ReadPin {
        let mut state = self.state.lock();
        let epoch = state.epoch;
        *state.readers.entry(epoch).or_default() += 1;
        ReadPin {
            pins: self.clone(),
            epoch,
        }
    }

    /// Starts a new epoch and returns it: readers pinned before it may hold old data.
    pub fn advance(&self) -> u64 {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.epoch
    }

    pub fn any_reader_before(&self, epoch: u64) -> bool {
        self.state.lock().readers.range(..epoch).next().is_some()
    }
}

impl Drop for ReadPin {
    fn drop(&mut self) {
        let mut state = self.pins.state.lock();
        if let Some(count) = state.readers.get_mut(&self.epoch) {
            *count -= 1;
            if *count == 0 {
                state.readers.remove(&self.epoch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_readers_pinned_before_an_epoch_hold_it_up() {
        let pins = Arc::new(ReadPins::default());
        let old = pins.pin();
        let epoch = pins.advance();
        let new = pins.pin();
        assert!(pins.any_reader_before(epoch));
        drop(old);
        assert!(!pins.any_reader_before(epoch));
        drop(new);
    }
}
