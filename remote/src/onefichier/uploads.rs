//! Uploads as the provider composes them: grouped by destination folder into batches, then
//! the copies they replace removed. The wire protocol is `upload.rs`'s.

use super::*;

impl OneFichierRemote {
    /// Sends the items (already grouped by folder) and fills `results`.
    pub(super) async fn upload_into(
        &self,
        folder_id: u64,
        items: &[(usize, &Upload)],
        results: &mut [Option<Result<Entry>>],
    ) {
        let files: Vec<OutgoingFile> = items
            .iter()
            .map(|(_, u)| OutgoingFile {
                name: u.dest.path.name().to_string(),
                source: u.source.clone(),
                size: u.size,
            })
            .collect();
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        for range in batches(&sizes, self.max_batch_files, self.max_batch_bytes) {
            let outcomes = upload_group(&self.client, folder_id, &files[range.clone()]).await;
            for ((index, item), outcome) in items[range].iter().zip(outcomes) {
                let entry = outcome.map(|stored| Entry {
                    name: item.dest.path.name().to_string(),
                    kind: EntryKind::File,
                    size: item.size,
                    mtime: Some(now_in_seconds()),
                    id: Some(stored.id),
                    hash: Some(crate::Hash::whirlpool(stored.hash)),
                });
                if let Ok(entry) = &entry {
                    self.folders.add_entry(folder_id, entry.clone());
                }
                results[*index] = Some(entry);
            }
        }
    }

    /// The ids of the objects the uploads replace, looked up before the new copies exist.
    pub(super) async fn replaced_ids(&self, items: &[Upload]) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = match &item.replace {
                Some(old) => self.file_id(old).await.ok(),
                None => None,
            };
            out.push(id);
        }
        out
    }

    /// Uploads grouped by destination folder, then removes what they replace.
    pub(super) async fn upload_all(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        let mut results: Vec<Option<Result<Entry>>> = (0..items.len()).map(|_| None).collect();
        let replaced = self.replaced_ids(items).await;
        let mut by_folder: BTreeMap<u64, Vec<(usize, &Upload)>> = BTreeMap::new();
        for (index, item) in items.iter().enumerate() {
            match self.destination(&item.dest).await {
                Ok((folder_id, _, _)) => {
                    by_folder.entry(folder_id).or_default().push((index, item))
                }
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        for (folder_id, group) in &by_folder {
            self.upload_into(*folder_id, group, &mut results).await;
        }
        let old: Vec<String> = replaced
            .into_iter()
            .zip(&results)
            .filter_map(|(old, result)| old.filter(|_| matches!(result, Some(Ok(_)))))
            .collect();
        if !old.is_empty() {
            if let Err(err) = self.remove_file_ids(&old).await {
                tracing::warn!(files = old.len(), error = %err, "uploaded, but the replaced copies could not be removed");
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(RemoteError::Transient("upload not attempted".into())))
            })
            .collect()
    }

    pub(super) async fn fetch_usage(&self) -> Result<Usage> {
        let info: UserInfo = self.client.post("user/info.cgi", &json!({})).await?;
        let used = info.cold_storage;
        let total = info.available_cold_storage;
        let free = match (total, used) {
            (Some(t), Some(u)) => Some(t.saturating_sub(u)),
            _ => None,
        };
        Ok(Usage { total, used, free })
    }
}
