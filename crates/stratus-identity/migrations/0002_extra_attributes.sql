-- Attributes Keystone does not know, kept as a JSON object and returned with the resource.
ALTER TABLE domains ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE projects ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE user_groups ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE roles ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE regions ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE services ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE endpoints ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
