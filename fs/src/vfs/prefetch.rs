//! Reads of content not held whole on local disk: answered from the BlockCache, and on a miss
//! fetched from the remote with a read-ahead window that starts at one block (low time to first
//! byte), doubles while access stays sequential (tolerating the kernel's out-of-order
//! readahead) up to a cap, and resets on random access. Large windows are fetched as parallel
//! ranged requests, and a sequential reader gets the next window prefetched in the background.
//! Must not write file content other than clean cache blocks.

use bytes::{Bytes, BytesMut};
use futures_util::future::try_join_all;
use ourclone_cache::{version_tag, Ino, Node, BLOCK_SIZE};
use ourclone_remote::ObjectRef;

use super::{lock, Vfs};
use crate::error::Result;

/// Largest read-ahead window, in blocks.
const MAX_WINDOW: u64 = 64;
/// Windows at least this large are fetched as parallel requests of this many blocks.
const PARALLEL_CHUNK: u64 = 8;

/// Read-ahead state of one open file.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    /// Where the next sequential read would start.
    next: u64,
    /// Current window, in blocks.
    window: u64,
    /// Blocks below this index were already asked for by a background prefetch.
    prefetched_to: u64,
}

impl Default for ReadAhead {
    fn default() -> Self {
        Self {
            next: 0,
            window: 1,
            prefetched_to: 0,
        }
    }
}

impl ReadAhead {
    /// Updates the state for a read at `offset` and returns the window to fetch, in blocks.
    fn on_read(&mut self, offset: u64, len: u64) -> u64 {
        let slack = 2 * self.window * BLOCK_SIZE;
        let sequential = offset + slack >= self.next && offset <= self.next + slack;
        if sequential && offset > 0 {
            self.window = (self.window * 2).min(MAX_WINDOW);
        } else if !sequential {
            self.window = 1;
            self.prefetched_to = 0;
        }
        self.next = self.next.max(offset + len);
        self.window
    }
}

/// The blocks `[first, last]` covering `len` bytes at `offset` of a file of `size` bytes.
fn block_span(offset: u64, len: u64, size: u64) -> Option<(u64, u64)> {
    let end = (offset + len).min(size);
    (end > offset).then(|| (offset / BLOCK_SIZE, (end - 1) / BLOCK_SIZE))
}

impl Vfs {
    /// Reads `len` bytes at `offset` of `ino`, whose content lives on the remote.
    pub(crate) async fn read_remote(
        &self,
        ino: Ino,
        node: &Node,
        ra: &std::sync::Mutex<ReadAhead>,
        offset: u64,
        len: u64,
    ) -> Result<Bytes> {
        let Some((first, last)) = block_span(offset, len, node.size) else {
            return Ok(Bytes::new());
        };
        let window = lock(ra).on_read(offset, len);
        let tag = version_tag(node.remote.as_ref());
        let mut blocks = Vec::with_capacity((last - first + 1) as usize);
        for index in first..=last {
            match self.blocks.get(ino, index, tag) {
                Some(b) => blocks.push(b),
                None => {
                    let fetched = self
                        .fetch_blocks(ino, node, index, (last + 1).max(index + window))
                        .await?;
                    blocks.push(fetched);
                }
            }
        }
        if window >= 4 {
            self.prefetch_ahead(ino, node, ra, last + 1, window);
        }
        let piece = |i: usize, b: &Bytes| {
            let block_start = (first + i as u64) * BLOCK_SIZE;
            let from = offset.saturating_sub(block_start) as usize;
            let to = ((offset + len).min(node.size) - block_start).min(b.len() as u64) as usize;
            b.slice(from.min(to)..to)
        };
        // A read within one block (the usual: the kernel asks block-aligned MiBs) is a slice
        // of it, not a copy.
        if let [b] = blocks.as_slice() {
            return Ok(piece(0, b));
        }
        let mut out = BytesMut::with_capacity(len as usize);
        for (i, b) in blocks.iter().enumerate() {
            out.extend_from_slice(&piece(i, b));
        }
        Ok(out.freeze())
    }

    /// Fetches blocks `[from, to)` of `ino` that are not cached, stores them, and returns block
    /// `from`. One fetch per file at a time, so concurrent readers never fetch a block twice.
    async fn fetch_blocks(&self, ino: Ino, node: &Node, from: u64, to: u64) -> Result<Bytes> {
        let tag = version_tag(node.remote.as_ref());
        let _g = self.fetch_locks.lock(ino).await;
        if let Some(b) = self.blocks.get(ino, from, tag) {
            return Ok(b);
        }
        let blocks_in_file = node.size.div_ceil(BLOCK_SIZE);
        let to = to.min(blocks_in_file);
        // Stop at the first block already cached: no refetching of what we hold.
        let to = (from + 1..to)
            .find(|i| self.blocks.get(ino, *i, tag).is_some())
            .unwrap_or(to);
        let obj = self.tree.object(ino, node)?;
        let chunks: Vec<(u64, u64)> = (from..to)
            .step_by(PARALLEL_CHUNK as usize)
            .map(|s| (s, (s + PARALLEL_CHUNK).min(to)))
            .collect();
        let fetched = try_join_all(
            chunks
                .iter()
                .map(|(s, e)| self.fetch_range(&obj, node.size, *s, *e)),
        )
        .await?;
        let mut first = Bytes::new();
        for ((s, _), data) in chunks.iter().zip(fetched) {
            for (i, block) in data.chunks(BLOCK_SIZE as usize).enumerate() {
                let index = s + i as u64;
                let block = data.slice_ref(block);
                let stored = match index == from {
                    true => self.blocks.put(ino, index, tag, &block),
                    false => self.blocks.put_fresh(ino, index, tag, block.clone()),
                };
                if let Err(e) = stored {
                    tracing::warn!(ino, index, "cannot cache block: {e}");
                }
                if index == from {
                    first = block;
                }
            }
        }
        Ok(first)
    }

    async fn fetch_range(&self, obj: &ObjectRef, size: u64, from: u64, to: u64) -> Result<Bytes> {
        let start = from * BLOCK_SIZE;
        let end = (to * BLOCK_SIZE).min(size);
        self.unless_offline(self.remote().read(obj, start, end - start))
            .await
    }

    /// Starts fetching the window after `next` in the background, once per window.
    fn prefetch_ahead(
        &self,
        ino: Ino,
        node: &Node,
        ra: &std::sync::Mutex<ReadAhead>,
        next: u64,
        window: u64,
    ) {
        let (from, to) = {
            let mut r = lock(ra);
            let from = next.max(r.prefetched_to);
            let to = (next + window).min(node.size.div_ceil(BLOCK_SIZE));
            if from >= to || from > next + window / 2 {
                return;
            }
            r.prefetched_to = to;
            (from, to)
        };
        let Some(me) = self.me.upgrade() else { return };
        let node = node.clone();
        tokio::spawn(async move {
            let background = ourclone_remote::pacer::Priority::Background;
            let fetch = me.fetch_blocks(ino, &node, from, to);
            if let Err(e) = ourclone_remote::pacer::with_priority(background, fetch).await {
                tracing::debug!(ino, "prefetch failed: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_grows_on_sequential_reads_and_resets_on_random_ones() {
        let mut ra = ReadAhead::default();
        let mb = BLOCK_SIZE;
        assert_eq!(ra.on_read(0, mb), 1);
        assert_eq!(ra.on_read(mb, mb), 2);
        assert_eq!(ra.on_read(2 * mb, mb), 4);
        // Kernel readahead may arrive slightly out of order.
        assert_eq!(ra.on_read(4 * mb, mb), 8);
        assert_eq!(ra.on_read(3 * mb, mb), 16);
        for i in 5..20 {
            ra.on_read(i * mb, mb);
        }
        assert_eq!(ra.window, MAX_WINDOW);
        assert_eq!(
            ra.on_read(900 * mb, 4096),
            1,
            "random access resets the window"
        );
    }

    #[test]
    fn block_span_clamps_to_file_size() {
        assert_eq!(block_span(0, 10, 5), Some((0, 0)));
        assert_eq!(block_span(BLOCK_SIZE - 1, 2, 10 * BLOCK_SIZE), Some((0, 1)));
        assert_eq!(block_span(100, 10, 50), None);
    }
}
