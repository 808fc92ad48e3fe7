-- Retention engine (examstutor_platform.retention.engine, .certificates, .holds).
--
-- Queries whose table comes from the policy are templates. {table}, {clock} and {key} are
-- double-quoted identifiers (validated by the policy parser and checked against the
-- catalog first); {subject} and {kind} are the row's subject and pseudonym kind as
-- expressions over the alias c (a quoted column, NULL or a constant); {after},
-- {pending}, {free}, {unheld}, {sets} and {columns} are fragments of this file or of quoted
-- identifiers. Nothing a user typed is ever formatted into SQL.
--
-- Holds are evaluated inside each batch's statements (on the block-range path, in the
-- batch's snapshot, taken by its first statement), so a hold committed before a batch
-- starts is always honoured.

-- name: delete_batch
-- One bounded batch: pick the oldest expired, unheld rows by the keyset key, delete them
-- by ctid (a TID scan). No row lock is taken before the DELETE: a row updated meanwhile
-- (say a session used again) fails the ctid recheck and stays. Subjects come back as
-- one bytea of 16-byte student ids (cheap to ship and split) plus "kind:id" texts for
-- any other kind of subject.
WITH picked AS MATERIALIZED (
    SELECT c.ctid AS tid, c.{key} AS key
      FROM {table} AS c
     WHERE c.{clock} < $1 {after}
       AND ({unheld})
     ORDER BY c.{key}
     LIMIT $3
), gone AS (
    DELETE FROM {table} AS c
     WHERE c.ctid = ANY (ARRAY(SELECT tid FROM picked))
    RETURNING {subject} AS subject, {kind}::text AS kind
)
SELECT (SELECT count(*) FROM picked) AS picked,
       (SELECT max(key) FROM picked) AS last_key,
       s.rows, s.students, s.others
  FROM (SELECT count(*) AS rows,
               string_agg(uuid_send(subject), ''::bytea) FILTER (WHERE kind = 'student')
                   AS students,
               array_agg(kind || ':' || subject::text) FILTER (WHERE kind <> 'student')
                   AS others
          FROM gone) AS s;

-- name: select_block_range
-- The bulk path (most of a big table past retention), step 1 of 2: the subjects of the
-- due rows in a range of heap blocks (a TID range scan). Step 2 deletes the same rows;
-- both run in one REPEATABLE READ transaction, so they see the same rows (a row changed
-- meanwhile makes the DELETE fail with a serialization error, and the batch is re-run).
SELECT count(*) AS rows,
       string_agg(uuid_send({subject}), ''::bytea) FILTER (WHERE {kind} = 'student')
           AS students,
       array_agg({kind}::text || ':' || {subject}::text) FILTER (WHERE {kind} <> 'student')
           AS others
  FROM {table} AS c
 WHERE c.ctid >= $3::tid AND c.ctid < $4::tid
   AND c.{clock} < $1
   AND ({unheld});

-- name: held_in_range
-- Step 0, for a table whose subject leads an index: the range's rows of students under
-- a hold, found through that index ($1, $2: the range). When they are few, steps 1 and
-- 2 leave them out by ctid (except_held_rows, $5 = these ctids) instead of
-- looking every row's student up in the holds; the three statements run in one
-- REPEATABLE READ transaction, so they see the same holds.
SELECT ARRAY(SELECT c.ctid
               FROM {table} AS c
              WHERE {subject} IN (SELECT h.student_id FROM legal_holds AS h
                                   WHERE h.released_at IS NULL AND h.student_id IS NOT NULL)
                AND c.ctid >= $1::tid AND c.ctid < $2::tid);

-- name: except_held_rows
c.ctid <> ALL ($5::tid[])

-- name: delete_block_range
-- Step 2: delete what is due in the range, like one DELETE over the table in pieces.
DELETE FROM {table} AS c
 WHERE c.ctid >= $3::tid AND c.ctid < $4::tid
   AND c.{clock} < $1
   AND ({unheld});

-- name: due_estimate
-- The planner's estimate of the rows past retention (the clock column's statistics): a
-- guess, only to choose the faster way through a table, without reading it.
EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} AS c WHERE c.{clock} < $1;

-- name: count_rows
SELECT count(*) FROM {table};

-- name: table_size
SELECT greatest(c.reltuples, 0)::bigint AS tuples,
       pg_relation_size(c.oid) / current_setting('block_size')::bigint AS blocks
  FROM pg_class AS c
 WHERE c.oid = to_regclass($1);

-- name: anonymise_batch
-- One bounded batch of rows to anonymise when every masked column becomes NULL: the
-- picked rows are locked (SKIP LOCKED) so the subjects read are the ones overwritten.
WITH picked AS MATERIALIZED (
    SELECT c.ctid AS tid, c.{key} AS key, {subject} AS subject, {kind}::text AS kind
      FROM {table} AS c
     WHERE c.{clock} < $1 {after}
       AND ({pending})
       AND ({unheld})
     ORDER BY c.{key}
     LIMIT $3
       FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {table} AS c SET {sets}
     WHERE c.ctid = ANY (ARRAY(SELECT tid FROM picked))
    RETURNING 1
)
SELECT (SELECT count(*) FROM picked) AS picked,
       (SELECT max(key) FROM picked) AS last_key,
       (SELECT count(*) FROM done) AS rows,
       (SELECT string_agg(uuid_send(subject), ''::bytea) FROM picked
         WHERE kind = 'student') AS students,
       (SELECT array_agg(kind || ':' || subject::text) FROM picked
         WHERE kind <> 'student') AS others;

-- name: anonymise_pick
-- The general path (a strategy other than null): lock a batch and read what is masked.
SELECT c.ctid AS tid, c.{key} AS key, {subject} AS subject, {kind}::text AS kind,
       {columns}
  FROM {table} AS c
 WHERE c.{clock} < $1 {after}
   AND ({pending})
   AND ({unheld})
 ORDER BY c.{key}
 LIMIT $3
   FOR UPDATE SKIP LOCKED;

-- name: anonymise_row
UPDATE {table} SET {sets} WHERE ctid = $1;

-- name: count_expired
-- Rows past retention still to process: how many are free and how many a student hold
-- keeps (a category hold is looked up separately).
SELECT count(*) FILTER (WHERE free) AS due, count(*) FILTER (WHERE NOT free) AS held
  FROM (SELECT ({free}) AS free
          FROM {table} AS c
         WHERE c.{clock} < $1 AND ({pending})) AS expired;

-- name: count_held
-- Rows past retention still to process that a student hold keeps (through the holds:
-- after a run the clock index is full of dead entries a full count would wade through).
SELECT count(*)
  FROM {table} AS c
 WHERE {subject} IN (SELECT h.student_id FROM legal_holds AS h
                      WHERE h.released_at IS NULL AND h.student_id IS NOT NULL)
   AND c.{clock} < $1 AND ({pending});

-- name: sample_subjects
SELECT {subject} AS subject, {kind}::text AS kind
  FROM {table} AS c
 WHERE c.{clock} < $1 AND ({pending}) AND ({free})
   AND {subject} IS NOT NULL
 ORDER BY c.{key}
 LIMIT $2;

-- name: free_of_category_hold
-- No active hold on the whole category ($2 in every query that uses {unheld}).
NOT EXISTS (SELECT 1 FROM legal_holds AS h WHERE h.released_at IS NULL AND h.category = $2)

-- name: free_of_student_holds
-- A row with no subject is free too (no hold's student_id equals NULL). Written without
-- "IS NULL OR", the planner makes it one hash anti-join per statement.
NOT EXISTS (SELECT 1 FROM legal_holds AS h
             WHERE h.released_at IS NULL AND h.student_id = {subject})

-- name: pending_students
-- Bookkeeping of anonymised rows, by table: which rows are still to anonymise, and what
-- marks a row done besides its masked columns (policy.toml's comments). A table of an
-- anonymise category with no entry here needs an anonymised_at column.
status NOT IN ('anonymised', 'erased')

-- name: bookkeeping_students
status = 'anonymised', updated_at = now()

-- name: pending_questions
status <> 'anonymised'

-- name: bookkeeping_questions
status = 'anonymised', anonymised_at = now()

-- name: table_columns
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute AS a
 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum;

-- name: leading_index_columns
SELECT DISTINCT a.attname AS name
  FROM pg_index AS i
  JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
 WHERE i.indrelid = to_regclass($1) AND i.indpred IS NULL;

-- name: primary_key_columns
SELECT a.attname AS name
  FROM pg_index AS i
  JOIN LATERAL unnest(i.indkey) AS k(attnum) ON true
  JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = to_regclass($1) AND i.indisprimary;

-- name: try_lock
SELECT pg_try_advisory_lock(hashtextextended($1, 0));

-- name: unlock
SELECT pg_advisory_unlock(hashtextextended($1, 0));

-- name: asynchronous_commits
-- Batches commit without waiting for the WAL flush: a crash can only lose the last
-- batches whole (rows and progress entry together), never one without the other. Set
-- for the session while the tables are walked (one statement, not one per batch);
-- returns the setting to put back.
SELECT current_setting('synchronous_commit') AS previous,
       set_config('synchronous_commit', 'off', false) AS now;

-- name: restore_synchronous_commit
SELECT set_config('synchronous_commit', $1, false);

-- name: synchronous_commit
SET LOCAL synchronous_commit = on;

-- name: droppable_partitions
-- Audit partitions (category audit_logs, action drop_partition):
-- The partitions audit_drop_partitions_before($1) would drop now (same bound, same floor).
SELECT c.relname AS name, b.upper_bound
  FROM pg_inherits AS i
  JOIN pg_class AS c ON c.oid = i.inhrelid
 CROSS JOIN LATERAL (
       SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                            'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound) AS b
 WHERE i.inhparent = 'audit_events'::regclass
   AND b.upper_bound <= least($1::timestamptz, now() - interval '7 years')
 ORDER BY b.upper_bound;

-- name: count_audit_before
SELECT count(*) FROM audit_events WHERE occurred_at < $1;

-- name: drop_partitions
SELECT name FROM audit_drop_partitions_before($1) AS name;

-- name: ensure_partitions
SELECT audit_ensure_partitions(
    date_trunc('month', current_date)::date,
    (date_trunc('month', current_date) + make_interval(months => $1))::date);

-- name: insert_certificate
-- Deletion certificates and the per-batch progress they are built from
-- (examstutor_platform.retention.certificates).
INSERT INTO deletion_certificates
       (run_id, kind, category, policy_version, cutoff, counts, subjects_sha256)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)
ON CONFLICT (run_id, category) DO NOTHING
RETURNING id;

-- name: find_certificate
SELECT id, run_id, kind, category, policy_version, cutoff, counts::text AS counts,
       subjects_sha256, issued_at
  FROM deletion_certificates
 WHERE run_id = $1 AND category = $2;

-- name: certificate_by_id
SELECT id, run_id, kind, category, policy_version, cutoff, counts::text AS counts,
       subjects_sha256, issued_at
  FROM deletion_certificates
 WHERE id = $1;

-- name: insert_progress
INSERT INTO retention_progress
       (category, attempt, batch, run_id, table_name, row_count, cutoff, students, others)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: progress_entries
-- $2: the attempt whose subjects the caller holds (their ids stay here), or NULL.
SELECT run_id, table_name, row_count, cutoff,
       CASE WHEN attempt IS DISTINCT FROM $2 THEN students END AS students,
       CASE WHEN attempt IS DISTINCT FROM $2 THEN others END AS others
  FROM retention_progress
 WHERE category = $1
 ORDER BY attempt, batch
   FOR UPDATE;

-- name: delete_progress
DELETE FROM retention_progress WHERE category = $1;

-- name: category_hold
-- Legal holds (examstutor_platform.retention.holds).
SELECT id, student_id, category, reason, placed_at
  FROM legal_holds
 WHERE released_at IS NULL AND category = ANY ($1::text[])
 ORDER BY placed_at, id
 LIMIT 1;

-- name: student_hold
SELECT id, student_id, category, reason, placed_at
  FROM legal_holds
 WHERE released_at IS NULL AND student_id = $1
 ORDER BY placed_at, id
 LIMIT 1;

-- name: active_holds
SELECT id, student_id, category, reason, placed_at
  FROM legal_holds
 WHERE released_at IS NULL
 ORDER BY placed_at, id;
