-- The server's description (microversion 2.19).
ALTER TABLE instances ADD COLUMN description TEXT;
