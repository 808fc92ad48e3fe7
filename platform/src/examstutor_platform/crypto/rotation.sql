-- Data-key rotation: rewrap every field ciphertext onto the primary data key, in
-- checkpointed batches. Used by examstutor_platform.crypto.rewrap and .rotation.
--
-- Queries whose names start with "table_" are templates rendered once per table of
-- ENCRYPTED_TABLES (crypto/encrypted_columns.py) by crypto/rotation_queries.py:
--   {table} {id} {id_type}  the table, its id column and that column's type
--   {fields}                every ciphertext it holds, as selected (bytea, or text for
--                           a base64url ciphertext inside a jsonb column)
--   {has_ciphertext}        "some field is not NULL"
--   {header_differs}        "some field's 5-byte header is not $2" (an embedded one's
--                           from its first 8 base64url characters)
--   {headers}               each field's 5-byte header, as VALUES rows
--   {assignments} {unnest} {names}   the pieces of the batch UPDATE
-- Every placeholder is filled from that constant registry, never from input.

-- name: primary_key
-- The primary data key and how long ago it became primary, by the database's clock.
SELECT version, extract(epoch FROM now() - created_at)::float8 AS age_seconds
  FROM data_keys
 WHERE status = 'primary';

-- name: lock_rotation
-- One rotation (rewrap or retire) at a time per database; released on disconnect.
SELECT pg_try_advisory_lock($1);

-- name: unlock_rotation
SELECT pg_advisory_unlock($1);

-- name: checkpoint
SELECT last_id, rows_done, finished_at
  FROM rotation_checkpoints
 WHERE target_version = $1 AND table_name = $2;

-- name: end_pass
-- A pass over the table reached its last id: the next one starts from the beginning.
-- $3: whether the table is now wholly on the target key (finished).
INSERT INTO rotation_checkpoints AS c (target_version, table_name, last_id, rows_done, finished_at)
VALUES ($1, $2, NULL, 0, CASE WHEN $3::boolean THEN now() END)
ON CONFLICT (target_version, table_name) DO UPDATE
   SET last_id = NULL,
       finished_at = CASE WHEN $3::boolean THEN coalesce(c.finished_at, now()) END,
       updated_at = now();

-- name: table_first_batch
-- Rows holding a ciphertext that is not under the primary key $1 (header $2), or
-- labelled with another key_version, from the start of the id order. ctid lets the
-- batch update reach each row without an index search; ctid, id and xmin together
-- name the row version read.
SELECT {id} AS id, ctid, xmin, key_version, {fields}
  FROM {table}
 WHERE ({header_differs}) OR (key_version IS DISTINCT FROM $1 AND ({has_ciphertext}))
 ORDER BY {id}
 LIMIT $3;

-- name: table_next_batch
-- As table_first_batch, after the id $4 (a checkpoint's last_id, as text).
SELECT {id} AS id, ctid, xmin, key_version, {fields}
  FROM {table}
 WHERE {id} > $4::{id_type}
   AND (({header_differs}) OR (key_version IS DISTINCT FROM $1 AND ({has_ciphertext})))
 ORDER BY {id}
 LIMIT $3;

-- name: table_count_off_primary
SELECT count(*)
  FROM {table}
 WHERE ({header_differs}) OR (key_version IS DISTINCT FROM $1 AND ({has_ciphertext}));

-- name: table_rewrap_batch
-- One batch in one statement, so one transaction: while $1 is still the primary key,
-- write the new ciphertexts of every row that is still the very row version that was
-- read (same ctid, id and xmin: any change since, by the API or anyone, gives the row
-- a new version, and the row is left for the next pass), then advance the checkpoint
-- by the rows written (batches written side by side may commit out of order: the
-- checkpoint keeps the highest last id). $3 is the batch's last id (text); $4 ctids,
-- $5 ids, $6 xmins and $7 key versions as read, then each field's new value.
WITH target AS (
    SELECT version FROM data_keys WHERE version = $1 AND status = 'primary'
), rewrapped AS (
    UPDATE {table} AS t
       SET {assignments}, key_version = $1
      FROM unnest($4::tid[], $5::{id_type}[], $6::xid[], $7::integer[], {unnest})
               AS v(row_ctid, id, row_xmin, old_version, {names}),
           target
     WHERE t.ctid = ANY ($4::tid[])
       AND t.ctid = v.row_ctid
       AND t.{id} = v.id
       AND t.xmin = v.row_xmin
       AND t.key_version IS NOT DISTINCT FROM v.old_version
    RETURNING 1
), saved AS (
    INSERT INTO rotation_checkpoints AS c (target_version, table_name, last_id, rows_done)
    SELECT $1, $2, $3, (SELECT count(*) FROM rewrapped) FROM target
    ON CONFLICT (target_version, table_name) DO UPDATE
       SET last_id = CASE WHEN c.last_id IS NULL OR excluded.last_id::{id_type} > c.last_id::{id_type}
                          THEN excluded.last_id ELSE c.last_id END,
           rows_done = c.rows_done + excluded.rows_done,
           finished_at = NULL,
           updated_at = now()
    RETURNING rows_done
)
SELECT EXISTS (SELECT 1 FROM target) AS still_primary,
       (SELECT count(*) FROM rewrapped) AS rewrapped,
       (SELECT rows_done FROM saved) AS rows_done;

-- name: table_headers_in_use
-- The distinct 5-byte headers (format byte and key version) of all the table's ciphertexts.
SELECT DISTINCT x.header
  FROM {table}, LATERAL (VALUES {headers}) AS x(header)
 WHERE x.header IS NOT NULL;
