//! Dead properties (PROPPATCH): kept in memory per node for as long as the server runs, keyed
//! by inode so they follow a MOVE; the clouds have nowhere to store them. One is not dead:
//! Windows' `Win32LastModifiedTime` sets the file's modification time, which is kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dav_server::fs::DavProp;
use ourclone_cache::Ino;

const MS_NAMESPACE: &str = "urn:schemas-microsoft-com:";

/// Properties clients set, by node.
#[derive(Clone, Default)]
pub(super) struct DeadProps {
    by_node: Arc<Mutex<HashMap<Ino, BTreeMap<String, DavProp>>>>,
}

fn key(p: &DavProp) -> String {
    format!("{}\u{0}{}", p.namespace.as_deref().unwrap_or(""), p.name)
}

/// The property's name without its value.
pub(super) fn name_only(p: &DavProp) -> DavProp {
    DavProp {
        xml: None,
        ..p.clone()
    }
}

/// The modification time a `Win32LastModifiedTime` property carries, if `p` is one.
pub(super) fn win32_mtime(p: &DavProp) -> Option<SystemTime> {
    if p.name != "Win32LastModifiedTime" || p.namespace.as_deref() != Some(MS_NAMESPACE) {
        return None;
    }
    let xml = String::from_utf8_lossy(p.xml.as_deref()?).into_owned();
    let text = xml.split_once('>')?.1.rsplit_once('<')?.0;
    httpdate::parse_http_date(text.trim()).ok()
}

impl DeadProps {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Ino, BTreeMap<String, DavProp>>> {
        self.by_node.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set(&self, ino: Ino, p: DavProp) {
        self.map().entry(ino).or_default().insert(key(&p), p);
    }

    pub(super) fn remove(&self, ino: Ino, p: &DavProp) {
        if let Some(props) = self.map().get_mut(&ino) {
            props.remove(&key(p));
        }
    }

    pub(super) fn all(&self, ino: Ino) -> Vec<DavProp> {
        self.map()
            .get(&ino)
            .map(|props| props.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn get(&self, ino: Ino, p: &DavProp) -> Option<DavProp> {
        self.map().get(&ino)?.get(&key(p)).cloned()
    }

    /// A COPY carries the properties along.
    pub(super) fn copy(&self, from: Ino, to: Ino) {
        let mut map = self.map();
        match map.get(&from).cloned() {
            Some(props) => map.insert(to, props),
            None => map.remove(&to),
        };
    }

    pub(super) fn forget(&self, ino: Ino) {
        self.map().remove(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win32_times_are_read_from_the_property_value() {
        let p = DavProp::new(
            "Win32LastModifiedTime".into(),
            "Z".into(),
            MS_NAMESPACE.into(),
            "Wed, 02 Dec 2026 10:20:30 GMT".into(),
        );
        let t = win32_mtime(&p).expect("a time");
        assert_eq!(httpdate::fmt_http_date(t), "Wed, 02 Dec 2026 10:20:30 GMT");
        let other = DavProp::new("x".into(), "Z".into(), MS_NAMESPACE.into(), "1".into());
        assert_eq!(win32_mtime(&other), None);
    }

    #[test]
    fn properties_follow_the_node_and_copies() {
        let props = DeadProps::default();
        let p = DavProp::new("a".into(), "x".into(), "urn:x".into(), "1".into());
        props.set(7, p.clone());
        assert_eq!(props.all(7).len(), 1);
        props.copy(7, 9);
        assert!(props.get(9, &p).is_some());
        props.remove(7, &p);
        assert!(props.get(7, &p).is_none());
        props.forget(9);
        assert!(props.all(9).is_empty());
    }
}
