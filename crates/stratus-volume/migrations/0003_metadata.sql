-- A snapshot's metadata (Cinder's snapshot metadata API), a JSON object of strings.
ALTER TABLE snapshots ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

-- A volume's administrative metadata (Cinder's: `readonly`, `attached_mode`), shown to
-- users merged into its metadata.
ALTER TABLE volumes ADD COLUMN admin_metadata TEXT NOT NULL DEFAULT '{}';
