-- Volumes attached to servers (Nova's block device mappings of volumes), each with the
-- Volume service's attachment that stands for it.
CREATE TABLE volume_attachments (
    instance_id TEXT NOT NULL,
    volume_id TEXT NOT NULL,
    attachment_id TEXT NOT NULL,
    device TEXT NOT NULL,
    -- attaching, attached, detaching
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, volume_id)
);
