//! Helpers of the index's integration tests.

use canhgac_index::IndexerOptions;

/// A small writer: one thread, 30 MB of heap.
pub fn opts() -> IndexerOptions {
    IndexerOptions {
        threads: 1,
        heap_bytes: 30 << 20,
        ..Default::default()
    }
}
