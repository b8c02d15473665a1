//! The Fernet key repository, laid out as Keystone's: files named by integers, `0` the staged
//! key, the highest number the primary (which encrypts), the others secondary (which only
//! decrypt). Every node that shares the directory validates every other node's tokens.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IdentityError, Result};

pub struct KeyRepository {
    dir: PathBuf,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> IdentityError {
    move |e| IdentityError::internal(what, e)
}

impl KeyRepository {
    pub fn new(dir: &Path) -> Self {
        KeyRepository { dir: dir.to_owned() }
    }

    /// Key indexes present, ascending.
    fn indexes(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(io_err(format!("reading {}", self.dir.display())))?;
        for entry in rd.flatten() {
            if let Some(n) = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn write_key(&self, index: u64, key: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".{index}.tmp"));
        write_private(&tmp, key).map_err(io_err(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, self.dir.join(index.to_string())).map_err(io_err("installing key".into()))
    }

    /// Creates the repository with a staged and a primary key, unless it already has keys.
    pub fn setup(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        restrict_dir(&self.dir).map_err(io_err("restricting key repository".into()))?;
        if self.indexes()?.is_empty() {
            self.write_key(0, &fernet::Fernet::generate_key())?;
            self.rotate(usize::MAX)?;
        }
        Ok(())
    }

    /// Keystone's rotation: the staged key becomes the new primary, a new staged key is made,
    /// and the oldest secondaries are removed beyond `max_active` keys.
    pub fn rotate(&self, max_active: usize) -> Result<()> {
        let idx = self.indexes()?;
        let next = idx.last().copied().unwrap_or(0) + 1;
        let staged = self.dir.join("0");
        if staged.exists() {
            fs::rename(&staged, self.dir.join(next.to_string())).map_err(io_err("promoting staged key".into()))?;
        } else {
            self.write_key(next, &fernet::Fernet::generate_key())?;
        }
        self.write_key(0, &fernet::Fernet::generate_key())?;
        let mut idx = self.indexes()?;
        // Keep the staged key (0) and the newest max_active - 1 others.
        idx.retain(|i| *i != 0);
        let keep_others = max_active.saturating_sub(1).max(1);
        while idx.len() > keep_others {
            let oldest = idx.remove(0);
            fs::remove_file(self.dir.join(oldest.to_string())).map_err(io_err("removing old key".into()))?;
        }
        Ok(())
    }

    /// Loads the keys: the primary first, then the others (staged included, so a token made by
    /// a node that has already rotated still validates here).
    pub fn load(&self) -> Result<fernet::MultiFernet> {
        let mut idx = self.indexes()?;
        if idx.len() < 2 {
            return Err(IdentityError::Internal {
                what: format!(
                    "the key repository {} has no primary key; run setup",
                    self.dir.display()
                ),
                source: None,
            });
        }
        idx.reverse();
        let mut keys = Vec::new();
        for i in idx {
            let path = self.dir.join(i.to_string());
            let text = fs::read_to_string(&path).map_err(io_err(format!("reading {}", path.display())))?;
            let f = fernet::Fernet::new(text.trim()).ok_or_else(|| IdentityError::Internal {
                what: format!("{} is not a Fernet key", path.display()),
                source: None,
            })?;
            keys.push(f);
        }
        Ok(fernet::MultiFernet::new(keys))
    }

    pub fn key_count(&self) -> Result<usize> {
        Ok(self.indexes()?.len())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(unix)]
fn restrict_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_tokens_valid_until_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(dir.path());
        repo.setup().unwrap();
        assert_eq!(repo.key_count().unwrap(), 2);
        let old = repo.load().unwrap().encrypt(b"hello");
        repo.rotate(3).unwrap();
        assert_eq!(repo.key_count().unwrap(), 3);
        assert_eq!(repo.load().unwrap().decrypt(&old).unwrap(), b"hello");
        repo.rotate(3).unwrap();
        repo.rotate(3).unwrap();
        assert_eq!(repo.key_count().unwrap(), 3);
        assert!(
            repo.load().unwrap().decrypt(&old).is_err(),
            "the key of the old token was pruned"
        );
        // A second setup does not replace existing keys.
        let before = repo.load().unwrap().encrypt(b"x");
        repo.setup().unwrap();
        assert!(repo.load().unwrap().decrypt(&before).is_ok());
    }
}
