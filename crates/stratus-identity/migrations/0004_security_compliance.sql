-- Keystone's security compliance: when a password expires, the user's options (which exempt
-- them from expiry, lockout or the first-use change, or lock their password), and the
-- passwords a user had, so that a new one can be told apart from the last few.
ALTER TABLE users ADD COLUMN password_expires_at BIGINT;
ALTER TABLE users ADD COLUMN password_set_at BIGINT;
ALTER TABLE users ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
CREATE TABLE password_history (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    set_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, set_at);
