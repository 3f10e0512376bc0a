//! Resolving paths to folder ids and file URLs: the caller's hints first, then remembered ids,
//! then `folder/ls` walks from the root. Must not list more than a lookup needs.

use super::*;

impl OneFichierRemote {
    /// The folder id of `path`, from the hint, memory, or a walk from the root.
    pub(super) async fn folder_id(&self, path: &RemotePath, hint: Option<&str>) -> Result<u64> {
        if let Some(hint) = hint {
            return folder_hint(hint, path);
        }
        if let Some(id) = self.folders.folder_id(path) {
            return Ok(id);
        }
        let (parent, _) = path
            .split_last()
            .ok_or_else(|| RemoteError::NotFound(path.to_string()))?;
        let parent_id = Box::pin(self.folder_id(&parent, None)).await?;
        let entry = self.find_in(parent_id, &parent, path).await?;
        match entry.kind {
            EntryKind::Dir => folder_hint(entry.id.as_deref().unwrap_or_default(), path),
            EntryKind::File => Err(RemoteError::NotADirectory(path.to_string())),
        }
    }

    /// The folder a new object goes into, and its name there.
    pub(super) async fn destination<'a>(
        &self,
        dest: &'a Dest,
    ) -> Result<(u64, RemotePath, &'a str)> {
        let (parent, name) = dest
            .path
            .split_last()
            .ok_or_else(|| RemoteError::PermissionDenied("the root cannot be replaced".into()))?;
        let id = self.folder_id(&parent, dest.parent_id.as_deref()).await?;
        Ok((id, parent, name))
    }

    /// The entry named by `path` (duplicates told apart), from its parent's listing.
    pub(super) async fn find(&self, path: &RemotePath) -> Result<Entry> {
        let (parent, _) = path
            .split_last()
            .ok_or_else(|| RemoteError::NotFound(path.to_string()))?;
        let parent_id = self.folder_id(&parent, None).await?;
        self.find_in(parent_id, &parent, path).await
    }

    pub(super) async fn find_in(
        &self,
        parent_id: u64,
        parent: &RemotePath,
        path: &RemotePath,
    ) -> Result<Entry> {
        let entries = names::disambiguate(self.listing(parent_id, parent).await?);
        entries
            .into_iter()
            .find(|e| e.name == path.name())
            .ok_or_else(|| RemoteError::NotFound(path.to_string()))
    }

    /// A file's id ([`names::file_id`]) from the hint or its parent's listing.
    pub(super) async fn file_id(&self, file: &ObjectRef) -> Result<String> {
        if let Some(id) = file.id.as_deref() {
            if names::is_file_id(id) {
                return Ok(id.to_string());
            }
            return Err(RemoteError::IsADirectory(file.path.to_string()));
        }
        let entry = self.find(&file.path).await?;
        match (entry.kind, entry.id) {
            (EntryKind::File, Some(id)) => Ok(id),
            _ => Err(RemoteError::IsADirectory(file.path.to_string())),
        }
    }

    /// Kind and id of an existing object, without a call when the id is given.
    pub(super) async fn kind_and_id(&self, obj: &ObjectRef) -> Result<(EntryKind, String)> {
        if let Some(id) = obj.id.as_deref() {
            let kind = if names::is_file_id(id) {
                EntryKind::File
            } else {
                EntryKind::Dir
            };
            return Ok((kind, id.to_string()));
        }
        if obj.path.is_root() {
            return Ok((EntryKind::Dir, ROOT_ID.to_string()));
        }
        let entry = self.find(&obj.path).await?;
        let id = entry
            .id
            .ok_or_else(|| RemoteError::NotFound(obj.path.to_string()))?;
        Ok((entry.kind, id))
    }
}
