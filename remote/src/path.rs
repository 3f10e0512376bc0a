//! `RemotePath`: a normalised, slash-separated path inside a remote ("" is the root).
//! Owns validation and joining; must not touch any provider.

use std::fmt;

/// A path relative to a remote's root, without leading or trailing slashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemotePath(String);

impl RemotePath {
    /// The remote's root.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses `s`, dropping empty and `.` components; `..` is rejected.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = Vec::new();
        for part in s.split('/') {
            match part {
                "" | "." => {}
                ".." => return None,
                p => parts.push(p),
            }
        }
        Some(Self(parts.join("/")))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This path with the single component `name` appended, or `None` when `name` is not one
    /// (empty, `.`, `..`, or holding `/` or NUL): names come from users and servers, and a
    /// bad one must never reach another object.
    pub fn child(&self, name: &str) -> Option<Self> {
        if !is_component(name) {
            return None;
        }
        Some(if self.0.is_empty() {
            Self(name.to_string())
        } else {
            Self(format!("{}/{}", self.0, name))
        })
    }

    /// [`RemotePath::child`] for names known to be valid (literals in tests and examples).
    ///
    /// # Panics
    /// When `name` is not a single valid component, in every build.
    pub fn join(&self, name: &str) -> Self {
        match self.child(name) {
            Some(p) => p,
            None => panic!("invalid path component {name:?}"),
        }
    }

    /// The parent directory and the last component; `None` for the root.
    pub fn split_last(&self) -> Option<(RemotePath, &str)> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rsplit_once('/') {
            Some((dir, name)) => (Self(dir.to_string()), name),
            None => (Self::root(), self.0.as_str()),
        })
    }

    /// The last component, or "" for the root.
    pub fn name(&self) -> &str {
        self.split_last().map(|(_, n)| n).unwrap_or("")
    }
}

/// True when `name` can be one component of a path.
pub fn is_component(name: &str) -> bool {
    !matches!(name, "" | "." | "..") && !name.contains(['/', '\0'])
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_rejects_dotdot() {
        assert_eq!(RemotePath::parse("/a//b/./c/").unwrap().as_str(), "a/b/c");
        assert!(RemotePath::parse("a/../b").is_none());
        assert!(RemotePath::parse("/").unwrap().is_root());
    }

    /// Issue 8, item 12: bad components are refused in every build.
    #[test]
    fn item12_child_rejects_bad_components() {
        let root = RemotePath::root();
        for bad in ["", ".", "..", "a/b", "nul\0byte", "/"] {
            assert!(root.child(bad).is_none(), "{bad:?} accepted");
        }
        assert_eq!(root.child("a b").unwrap().as_str(), "a b");
    }

    #[test]
    fn join_and_split() {
        let p = RemotePath::root().join("a").join("b");
        assert_eq!(p.as_str(), "a/b");
        let (dir, name) = p.split_last().unwrap();
        assert_eq!((dir.as_str(), name), ("a", "b"));
        assert!(RemotePath::root().split_last().is_none());
    }
}
