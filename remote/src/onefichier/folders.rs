//! What this provider remembers between calls: path → folder id, and each folder's last
//! listing with its age, patched in place after our own changes so a folder is never listed
//! again within the list interval. Owns only in-memory state; must not make HTTP calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;
use crate::{Entry, RemotePath};

/// The root folder's id.
pub const ROOT_ID: u64 = 0;

struct Listing {
    fetched_at: Instant,
    /// Decoded names, duplicates not yet told apart.
    entries: Vec<Entry>,
}

/// Most entries remembered outside listings before they are all forgotten.
const LOOSE_MAX: usize = 10_000;

/// Most folder listings remembered at once (each is fetched again once it expires anyway).
const LISTINGS_MAX: usize = 2_048;

#[derive(Default)]
struct State {
    ids: HashMap<RemotePath, u64>,
    listings: HashMap<u64, Listing>,
    /// Entries we created in folders whose listing we do not hold, by id.
    loose: HashMap<String, Entry>,
}

/// Folder ids and listings, shared by all calls of one remote.
#[derive(Default)]
pub struct FolderCache {
    state: Mutex<State>,
    /// One lock per folder so concurrent callers share one `folder/ls`.
    list_locks: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
}

impl FolderCache {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn folder_id(&self, path: &RemotePath) -> Option<u64> {
        if path.is_root() {
            return Some(ROOT_ID);
        }
        self.state().ids.get(path).copied()
    }

    pub fn learn(&self, path: &RemotePath, id: u64) {
        if !path.is_root() {
            self.state().ids.insert(path.clone(), id);
        }
    }

    /// Forgets the ids of `path` and everything under it (after a folder moved or went away).
    pub fn forget_tree(&self, path: &RemotePath) {
        let prefix = format!("{}/", path.as_str());
        self.state()
            .ids
            .retain(|p, _| p != path && !p.as_str().starts_with(&prefix));
    }

    /// Re-roots the ids of `from` and everything under it at `to` (a folder moved).
    pub fn move_tree(&self, from: &RemotePath, to: &RemotePath) {
        let prefix = format!("{}/", from.as_str());
        let mut state = self.state();
        let moved: Vec<(RemotePath, u64)> = state
            .ids
            .iter()
            .filter(|(p, _)| *p == from || p.as_str().starts_with(&prefix))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        for (old, id) in moved {
            state.ids.remove(&old);
            let rest = &old.as_str()[from.as_str().len()..];
            if let Some(new) = RemotePath::parse(&format!("{}{rest}", to.as_str())) {
                state.ids.insert(new, id);
            }
        }
    }

    pub fn list_lock(&self, folder_id: u64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = lock(&self.list_locks);
        locks.entry(folder_id).or_default().clone()
    }

    /// The listing of `folder_id` if it is younger than `max_age`.
    pub fn fresh_listing(&self, folder_id: u64, max_age: Duration) -> Option<Vec<Entry>> {
        let state = self.state();
        let listing = state.listings.get(&folder_id)?;
        (listing.fetched_at.elapsed() < max_age).then(|| listing.entries.clone())
    }

    /// Stores a fresh listing of the folder at `path` and learns its sub-folders' ids.
    pub fn store_listing(&self, folder_id: u64, path: &RemotePath, entries: Vec<Entry>) {
        let mut state = self.state();
        for e in entries.iter().filter(|e| e.kind == crate::EntryKind::Dir) {
            let id = e.id.as_deref().and_then(|id| id.parse().ok());
            // A name that is not one path component (a hostile server) is never a path.
            if let (Some(id), Some(child)) = (id, path.child(&e.name)) {
                state.ids.insert(child, id);
            }
        }
        let listing = Listing {
            fetched_at: Instant::now(),
            entries,
        };
        if state.listings.len() >= LISTINGS_MAX && !state.listings.contains_key(&folder_id) {
            // Bounded memory: forget the oldest listing (it is fetched again when needed).
            let oldest = state
                .listings
                .iter()
                .min_by_key(|(_, l)| l.fetched_at)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                state.listings.remove(&id);
            }
        }
        state.listings.insert(folder_id, listing);
    }

    /// An entry with this id in any remembered listing.
    pub fn entry_by_id(&self, id: &str) -> Option<Entry> {
        let state = self.state();
        state
            .listings
            .values()
            .flat_map(|l| l.entries.iter())
            .find(|e| e.id.as_deref() == Some(id))
            .or_else(|| state.loose.get(id))
            .cloned()
    }

    /// Adds our own new entry to the folder's listing, if we have one.
    pub fn add_entry(&self, folder_id: u64, entry: Entry) {
        let mut state = self.state();
        if let Some(listing) = state.listings.get_mut(&folder_id) {
            listing.entries.retain(|e| e.id != entry.id);
            listing.entries.push(entry);
        } else if let Some(id) = entry.id.clone() {
            if state.loose.len() >= LOOSE_MAX {
                state.loose.clear();
            }
            state.loose.insert(id, entry);
        }
    }

    /// Removes the entry with this id from every listing.
    pub fn remove_id(&self, id: &str) {
        let mut state = self.state();
        state.loose.remove(id);
        for listing in state.listings.values_mut() {
            listing.entries.retain(|e| e.id.as_deref() != Some(id));
        }
    }

    /// Forgets a deleted folder's own listing and its entry in its parent's.
    pub fn remove_folder(&self, path: &RemotePath, folder_id: u64) {
        self.remove_id(&folder_id.to_string());
        self.state().listings.remove(&folder_id);
        self.forget_tree(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntryKind;

    fn dir(name: &str, id: u64) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: None,
            id: Some(id.to_string()),
            hash: None,
        }
    }

    /// Issue 8, item 15: the folder cache is bounded.
    #[test]
    fn item15_listings_are_bounded() {
        let cache = FolderCache::default();
        for id in 0..(LISTINGS_MAX as u64 + 100) {
            cache.store_listing(id, &RemotePath::root(), Vec::new());
        }
        assert_eq!(cache.state().listings.len(), LISTINGS_MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn listings_expire_and_teach_ids() {
        let cache = FolderCache::default();
        let a = RemotePath::parse("a").unwrap();
        cache.store_listing(5, &a, vec![dir("b", 7)]);
        assert_eq!(cache.folder_id(&RemotePath::parse("a/b").unwrap()), Some(7));
        assert!(cache.fresh_listing(5, Duration::from_secs(30)).is_some());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(cache.fresh_listing(5, Duration::from_secs(30)).is_none());
        cache.forget_tree(&a);
        assert_eq!(cache.folder_id(&RemotePath::parse("a/b").unwrap()), None);
    }

    #[test]
    fn patches_apply_to_remembered_listings() {
        let cache = FolderCache::default();
        cache.store_listing(0, &RemotePath::root(), vec![dir("x", 1)]);
        cache.add_entry(0, dir("y", 2));
        assert!(cache.entry_by_id("2").is_some());
        cache.remove_id("1");
        let names: Vec<_> = cache
            .fresh_listing(0, Duration::from_secs(60))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["y"]);
    }
}
