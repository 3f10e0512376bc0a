//! Which paths a transfer looks at: gitignore-style glob rules (first match wins), sizes and
//! age. Owns parsing and matching; must not touch either side.

use std::time::{Duration, SystemTime};

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use super::tree::{Item, ItemKind};

/// The filter options as given (the job's arguments carry these).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterSpec {
    /// Rules in order: `+ PATTERN` includes, `- PATTERN` excludes.
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub min_size: Option<u64>,
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Seconds: files modified longer ago are left out.
    #[serde(default)]
    pub max_age: Option<u64>,
}

struct Rule {
    include: bool,
    dir_only: bool,
    glob: GlobMatcher,
}

/// Compiled rules.
pub struct Filter {
    rules: Vec<Rule>,
    has_includes: bool,
    min_size: Option<u64>,
    max_size: Option<u64>,
    oldest: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
#[error("bad filter rule '{rule}': {why}")]
pub struct BadRule {
    pub rule: String,
    pub why: String,
}

/// Turns one gitignore-style pattern into a glob over paths relative to the transfer's root:
/// a pattern with no `/` matches at any depth, a leading `/` anchors it, a trailing `/` makes it
/// match folders only.
fn compile(pattern: &str, include: bool) -> Result<Rule, BadRule> {
    let bad = |why: String| BadRule {
        rule: pattern.to_string(),
        why,
    };
    let (body, dir_only) = match pattern.strip_suffix('/') {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    if body.is_empty() {
        return Err(bad("empty pattern".into()));
    }
    let glob = match body.strip_prefix('/') {
        Some(anchored) => anchored.to_string(),
        None if body.contains('/') => body.to_string(),
        None => format!("**/{body}"),
    };
    let glob = GlobBuilder::new(&glob)
        .literal_separator(true)
        .build()
        .map_err(|e| bad(e.kind().to_string()))?
        .compile_matcher();
    Ok(Rule {
        include,
        dir_only,
        glob,
    })
}

/// One line of a rule: `+ P`, `- P`, `!P` (include) or `P` (exclude).
pub fn parse_rule(line: &str) -> Option<(bool, &str)> {
    let line = line.trim_end();
    if line.trim().is_empty() || line.trim_start().starts_with('#') {
        return None;
    }
    Some(if let Some(p) = line.strip_prefix("+ ") {
        (true, p)
    } else if let Some(p) = line.strip_prefix("- ") {
        (false, p)
    } else if let Some(p) = line.strip_prefix('!') {
        (true, p)
    } else {
        (false, line)
    })
}

impl Filter {
    pub fn new(spec: &FilterSpec) -> Result<Self, BadRule> {
        let mut rules = Vec::new();
        for line in &spec.rules {
            if let Some((include, pattern)) = parse_rule(line) {
                rules.push(compile(pattern.trim(), include)?);
            }
        }
        let oldest = spec
            .max_age
            .and_then(|s| SystemTime::now().checked_sub(Duration::from_secs(s)));
        Ok(Self {
            has_includes: rules.iter().any(|r| r.include),
            rules,
            min_size: spec.min_size,
            max_size: spec.max_size,
            oldest,
        })
    }

    /// The first rule matching `rel`: include (`true`) or exclude (`false`).
    fn decide(&self, rel: &str, is_dir: bool) -> Option<bool> {
        self.rules
            .iter()
            .find(|r| (is_dir || !r.dir_only) && r.glob.is_match(rel))
            .map(|r| r.include)
    }

    /// Whether the transfer looks at `rel`. A folder a rule excludes takes everything below
    /// it along; when there are include rules, a file no rule includes is left out.
    pub fn admits(&self, rel: &str, item: &Item) -> bool {
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            if self.decide(&rel[..at + i], true) == Some(false) {
                return false;
            }
            at += i + 1;
        }
        let is_dir = item.kind == ItemKind::Dir;
        match self.decide(rel, is_dir) {
            Some(include) if !include => return false,
            None if !is_dir && self.has_includes => return false,
            _ => {}
        }
        if item.kind != ItemKind::File {
            return true;
        }
        self.min_size.is_none_or(|m| item.size >= m)
            && self.max_size.is_none_or(|m| item.size <= m)
            && self.oldest.is_none_or(|t| item.mtime >= t)
    }
}

/// `10`, `10k`, `1.5M`, `2G` (powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'b' => 1,
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return None,
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as u64)
}

/// `90s`, `30m`, `12h`, `7d`, `2w`, or plain seconds.
pub fn parse_age(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let m = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return None,
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|v| v * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: ItemKind, size: u64) -> Item {
        Item {
            kind,
            size,
            mtime: SystemTime::now(),
            mode: 0o644,
            hash: None,
        }
    }

    fn filter(rules: &[&str]) -> Filter {
        Filter::new(&FilterSpec {
            rules: rules.iter().map(|r| r.to_string()).collect(),
            ..FilterSpec::default()
        })
        .unwrap()
    }

    #[test]
    fn gitignore_style_patterns_and_first_match_wins() {
        let f = filter(&["- *.tmp", "- /build/", "+ keep/**", "- keep/**"]);
        let file = item(ItemKind::File, 1);
        let dir = item(ItemKind::Dir, 0);
        assert!(!f.admits("a/b/x.tmp", &file));
        assert!(!f.admits("build", &dir));
        assert!(!f.admits("build/out.o", &file));
        assert!(f.admits("keep/a/b", &file), "the include came first");
        assert!(
            !f.admits("src/main.rs", &file),
            "with includes, unnamed files are out"
        );
        let f = filter(&["- /build/"]);
        assert!(f.admits("src/build", &dir), "anchored to the root");
        assert!(
            f.admits("src/main.rs", &file),
            "without includes, unnamed files are in"
        );
    }

    #[test]
    fn include_rules_leave_out_files_they_do_not_name_but_not_folders() {
        let f = filter(&["+ *.jpg"]);
        assert!(f.admits("a/b/c.jpg", &item(ItemKind::File, 1)));
        assert!(!f.admits("a/b/c.png", &item(ItemKind::File, 1)));
        assert!(f.admits("a/b", &item(ItemKind::Dir, 0)));
    }

    #[test]
    fn sizes_and_ages() {
        let f = Filter::new(&FilterSpec {
            min_size: Some(10),
            max_size: Some(100),
            ..FilterSpec::default()
        })
        .unwrap();
        assert!(!f.admits("a", &item(ItemKind::File, 9)));
        assert!(f.admits("a", &item(ItemKind::File, 10)));
        assert!(!f.admits("a", &item(ItemKind::File, 101)));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_age("7d"), Some(7 * 86_400));
        assert_eq!(parse_age("90"), Some(90));
        assert_eq!(parse_age("3y"), None);
    }

    #[test]
    fn bad_rules_are_named() {
        let e = Filter::new(&FilterSpec {
            rules: vec!["- a[".into()],
            ..FilterSpec::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().starts_with("bad filter rule 'a['"), "{e}");
    }
}
