-- The server's tags (microversion 2.26), as a JSON list.
ALTER TABLE instances ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
