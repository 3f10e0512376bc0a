//! Moves and renames of files (`file/mv`, `file/rename`) and folders (`folder/mv`,
//! `folder/rename`), keeping the remembered ids right.

use super::*;

impl OneFichierRemote {
    pub(super) async fn move_file(&self, id: &str, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        let (url, empty) = names::split_file_id(id);
        let from_parent = from.path.split_last().map(|(p, _)| p).unwrap_or_default();
        let (to_parent, to_name) = to
            .path
            .split_last()
            .ok_or_else(|| RemoteError::PermissionDenied("the root cannot be replaced".into()))?;
        let renamed = from.path.name() != to_name;
        let stored = names::encode_file_name(to_name, empty);
        let mut new_url = url.to_string();
        // Same folder: rename.cgi (mv.cgi into the same folder does not rename, rclone #5421).
        let dest_id = if from_parent == to_parent {
            if renamed {
                self.rename_in_place(url, &stored).await?;
            }
            match to.parent_id.as_deref() {
                Some(hint) => folder_hint(hint, &to_parent).ok(),
                None => self.folders.folder_id(&to_parent),
            }
        } else {
            let dest_id = self.folder_id(&to_parent, to.parent_id.as_deref()).await?;
            let mut body = json!({ "urls": [url], "destination_folder_id": dest_id });
            if renamed {
                body["rename"] = json!(stored);
            }
            let moved: MovedFiles = self.client.post("file/mv.cgi", &body).await?;
            if let Some(u) = moved.urls.into_iter().next() {
                new_url = u;
            }
            Some(dest_id)
        };
        let mut entry = self.describe_file(id, &new_url).await?;
        entry.name = to_name.to_string();
        entry.id = Some(names::file_id(&new_url, empty));
        self.folders.remove_id(id);
        if let Some(dest_id) = dest_id {
            self.folders.add_entry(dest_id, entry.clone());
        }
        Ok(entry)
    }

    /// `file/rename.cgi`; "No file has been renamed #312" means it already had that name.
    pub(super) async fn rename_in_place(&self, url: &str, stored: &str) -> Result<()> {
        let body = json!({ "urls": [{ "url": url, "filename": stored }], "pretty": 0 });
        match self.client.post::<Ack>("file/rename.cgi", &body).await {
            Err(RemoteError::Permanent(m)) if client::message_code(&m) == Some(312) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub(super) async fn move_dir(
        &self,
        folder_id: u64,
        from: &ObjectRef,
        to: &Dest,
    ) -> Result<Entry> {
        if folder_id == ROOT_ID {
            return Err(RemoteError::PermissionDenied(
                "the root cannot be moved".into(),
            ));
        }
        let (dest_id, _, to_name) = self.destination(to).await?;
        let mut body = json!({
            "folder_id": folder_id,
            "rename": names::encode(to_name),
            "destination_user": "",
        });
        if dest_id != ROOT_ID {
            body["destination_folder_id"] = json!(dest_id);
        }
        let _: Ack = self.client.post("folder/mv.cgi", &body).await?;
        let id = folder_id.to_string();
        let mut entry = self
            .folders
            .entry_by_id(&id)
            .unwrap_or_else(|| dir_entry(to_name, folder_id));
        entry.name = to_name.to_string();
        self.folders.remove_id(&id);
        self.folders.move_tree(&from.path, &to.path);
        self.folders.learn(&to.path, folder_id);
        self.folders.add_entry(dest_id, entry.clone());
        Ok(entry)
    }
}
