//! Folder listings, at most one per folder per listing interval (the last answer, patched
//! with our own changes, is served in between), and single-object lookups.

use super::*;

impl OneFichierRemote {
    /// The raw entries of a folder, listed at most once per interval.
    pub(super) async fn listing(&self, folder_id: u64, path: &RemotePath) -> Result<Vec<Entry>> {
        if let Some(entries) = self.folders.fresh_listing(folder_id, self.list_interval) {
            return Ok(entries);
        }
        let lock = self.folders.list_lock(folder_id);
        let _one_lister = lock.lock().await;
        if let Some(entries) = self.folders.fresh_listing(folder_id, self.list_interval) {
            return Ok(entries);
        }
        let entries = self.fetch_listing(folder_id).await?;
        self.folders.store_listing(folder_id, path, entries.clone());
        Ok(entries)
    }

    /// `folder/ls` with `files: 1`; `file/ls` only if the answer did not carry the files.
    pub(super) async fn fetch_listing(&self, folder_id: u64) -> Result<Vec<Entry>> {
        let body = json!({ "folder_id": folder_id, "files": 1 });
        let answer: FolderListing = self.client.post("folder/ls.cgi", &body).await?;
        let mut entries: Vec<Entry> = answer
            .sub_folders
            .unwrap_or_default()
            .into_iter()
            .map(api::SubFolder::into_entry)
            .collect();
        let items = match (answer.items, answer.files) {
            (Some(items), _) => items,
            (None, Some(0)) => Vec::new(),
            (None, _) => {
                let body = json!({ "folder_id": folder_id });
                let files: FileListing = self.client.post("file/ls.cgi", &body).await?;
                files.items.unwrap_or_default()
            }
        };
        entries.extend(items.into_iter().map(FileItem::into_entry));
        Ok(entries)
    }

    /// What we know of a file: from a remembered listing, else `file/info`.
    pub(super) async fn describe_file(&self, id: &str, url: &str) -> Result<Entry> {
        if let Some(entry) = self.folders.entry_by_id(id) {
            return Ok(entry);
        }
        let info: FileItem = self
            .client
            .post("file/info.cgi", &json!({ "url": url }))
            .await?;
        Ok(info.into_entry())
    }
}
