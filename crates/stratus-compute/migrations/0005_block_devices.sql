-- The volumes a server was asked to boot from or start with (block_device_mapping_v2), as
-- JSON, for its agent to map at build.
ALTER TABLE instances ADD COLUMN block_devices TEXT NOT NULL DEFAULT '[]';
-- Whether deleting the server deletes the volume too.
ALTER TABLE volume_attachments ADD COLUMN delete_on_termination INTEGER NOT NULL DEFAULT 0;
