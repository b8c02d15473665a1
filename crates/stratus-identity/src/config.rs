//! Identity's options, with Keystone's names where Keystone has one.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `[token] expiration`.
    pub token_expiration: Duration,
    /// bcrypt cost of stored passwords and application credential secrets (`[identity] password_hash_rounds`).
    pub password_hash_rounds: u32,
    /// `[security_compliance] lockout_failure_attempts`; `None` disables lockout, as in Keystone.
    pub lockout_failure_attempts: Option<u32>,
    /// `[security_compliance] lockout_duration`.
    pub lockout_duration: Duration,
    /// `[security_compliance] password_expires_days`; `None`: passwords do not expire.
    pub password_expires_days: Option<u32>,
    /// `[security_compliance] unique_last_password_count`: a user changing their password
    /// may not reuse any of their last this many (0 or 1: only the current one is compared,
    /// which is no check, as Keystone).
    pub unique_last_password_count: u32,
    /// `[security_compliance] minimum_password_age` in days: how long a user must keep a
    /// password before changing it themselves.
    pub minimum_password_age_days: u32,
    /// `[security_compliance] password_regex`, matched at the start of a new password as
    /// Python's `re.match`, and `password_regex_description`, shown when it does not match.
    pub password_regex: Option<(fancy_regex::Regex, String)>,
    /// `[security_compliance] change_password_upon_first_use`: a password an administrator
    /// sets is expired at once, so that its user must change it.
    pub change_password_upon_first_use: bool,
    /// `[fernet_tokens] key_repository`.
    pub key_repository: PathBuf,
    /// `[fernet_tokens] max_active_keys`.
    pub max_active_keys: usize,
    /// `[credential] key_repository`: the Fernet keys that encrypt credential blobs and OAuth
    /// secrets at rest, apart from the token keys (rotating one must not lose the other).
    pub credential_key_repository: PathBuf,
    /// How long a node may trust what it read about revocations and assignments before reading
    /// again. Changes made on this node take effect at once; on other nodes within this bound.
    pub cache_ttl: Duration,
    /// The public URL of this cloud (`http://host:port`), for links and the catalog.
    pub public_url: String,
    /// Hashes run on blocking threads, at most this many at once, so logins never starve the
    /// async workers that serve everything else.
    pub max_concurrent_hashes: usize,
}

impl IdentityConfig {
    pub fn new(key_repository: PathBuf, public_url: String) -> Self {
        IdentityConfig {
            token_expiration: Duration::from_secs(3600),
            password_hash_rounds: 12,
            lockout_failure_attempts: None,
            lockout_duration: Duration::from_secs(1800),
            password_expires_days: None,
            unique_last_password_count: 0,
            minimum_password_age_days: 0,
            password_regex: None,
            change_password_upon_first_use: false,
            credential_key_repository: key_repository
                .parent()
                .map(|p| p.join("credential-keys"))
                .unwrap_or_else(|| PathBuf::from("credential-keys")),
            key_repository,
            max_active_keys: 3,
            cache_ttl: Duration::from_secs(1),
            public_url,
            max_concurrent_hashes: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        }
    }
}
