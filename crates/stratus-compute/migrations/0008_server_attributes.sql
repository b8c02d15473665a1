-- What a user sets on a server that nothing in Stratus acts on but Nova keeps and shows:
-- the access addresses, the disk config, the reservation and the index in it of a multiple
-- create. A JSON object (model::ServerAttrs).
ALTER TABLE instances ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}';
