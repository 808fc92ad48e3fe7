-- Data keys (DEKs), stored wrapped under a key-encryption key (KEK).
-- Used by examstutor_platform.crypto.keyring.DataKeyStore.

-- name: lock_data_keys
-- Serialises writers (create, rewrap, retire); readers (ACCESS SHARE) are not blocked.
LOCK TABLE data_keys IN EXCLUSIVE MODE;

-- name: live_keys
SELECT version, kek_id, wrapped_key, status
FROM data_keys
WHERE status <> 'retired'
ORDER BY version;

-- name: all_keys
SELECT version, kek_id, status, created_at, retired_at
FROM data_keys
ORDER BY version;

-- name: primary_version
SELECT version FROM data_keys WHERE status = 'primary';

-- name: next_version
SELECT coalesce(max(version), 0) + 1 AS version FROM data_keys;

-- name: demote_primary
UPDATE data_keys SET status = 'active' WHERE status = 'primary';

-- name: insert_primary
INSERT INTO data_keys (version, kek_id, wrapped_key, status)
VALUES ($1, $2, $3, 'primary');

-- name: update_wrapping
UPDATE data_keys SET kek_id = $2, wrapped_key = $3 WHERE version = $1;

-- name: key_status
SELECT status FROM data_keys WHERE version = $1;

-- name: retire_key
UPDATE data_keys SET status = 'retired', retired_at = now()
WHERE version = $1 AND status = 'active';
