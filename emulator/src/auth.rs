//! Who is calling: API keys from the flags, the free-account keys, and keys revoked at runtime.

use axum::http::{header::AUTHORIZATION, HeaderMap};
use std::{collections::HashSet, sync::Mutex};

/// What a request's `Authorization: Bearer` header makes of its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A valid key of the (paying) account.
    Customer,
    /// A valid key of a free account: the API refuses it with #200.
    NonCustomer,
    /// No key, an unknown key, or a revoked one.
    Anonymous,
}

#[derive(Debug)]
pub struct Auth {
    customers: HashSet<String>,
    non_customers: HashSet<String>,
    revoked: Mutex<HashSet<String>>,
}

impl Auth {
    pub fn new(customers: &[String], non_customers: &[String]) -> Self {
        Self {
            customers: customers.iter().cloned().collect(),
            non_customers: non_customers.iter().cloned().collect(),
            revoked: Mutex::new(HashSet::new()),
        }
    }

    pub fn identify(&self, headers: &HeaderMap) -> Caller {
        let Some(key) = bearer(headers) else {
            return Caller::Anonymous;
        };
        if self.is_revoked(key) {
            Caller::Anonymous
        } else if self.customers.contains(key) {
            Caller::Customer
        } else if self.non_customers.contains(key) {
            Caller::NonCustomer
        } else {
            Caller::Anonymous
        }
    }

    /// Revokes a key from now on; returns whether it was a known key.
    pub fn revoke(&self, key: &str) -> bool {
        let known = self.customers.contains(key) || self.non_customers.contains(key);
        self.revoked_set().insert(key.to_string());
        known
    }

    fn is_revoked(&self, key: &str) -> bool {
        self.revoked_set().contains(key)
    }

    fn revoked_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.revoked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The key of an `Authorization: Bearer KEY` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}
