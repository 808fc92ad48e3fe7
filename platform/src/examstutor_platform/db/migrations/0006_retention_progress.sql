-- The retention engine's per-batch progress (examstutor_platform.retention.certificates)
-- gets a table of its own. It lived in cache_entries as JSON, the subjects' ids in one
-- base64 string; a big first run's first batches each name some 20,000 new students,
-- and storing those 320 kB as bytea, uncompressed (random ids do not compress), costs
-- the batch's transaction a third of the time (bench/bench_retention.py). Rows live
-- only until the run that wrote them is certified.
CREATE TABLE retention_progress (
    category       text        NOT NULL,
    attempt        text        NOT NULL,   -- one invocation of a run
    batch          integer     NOT NULL,
    run_id         text        NOT NULL,
    table_name     text        NOT NULL,
    row_count      bigint      NOT NULL,
    cutoff         timestamptz NOT NULL,
    students       bytea       NOT NULL,   -- 16-byte ids new to the attempt, packed
    others         text[]      NOT NULL,   -- other subjects new to it, as kind:id
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, attempt, batch)
);
ALTER TABLE retention_progress ALTER COLUMN students SET STORAGE EXTERNAL;

-- Entries of a run killed before this migration: moved, to be certified by the next run.
INSERT INTO retention_progress
       (category, attempt, batch, run_id, table_name, row_count, cutoff, students, others)
SELECT split_part(key, ':', 2), split_part(key, ':', 3), split_part(key, ':', 4)::integer,
       value ->> 'run_id', value ->> 'table', (value ->> 'rows')::bigint,
       (value ->> 'cutoff')::timestamptz, decode(value ->> 'students', 'base64'),
       ARRAY(SELECT jsonb_array_elements_text(value -> 'others'))
  FROM cache_entries
 WHERE starts_with(key, 'retention-progress:');
DELETE FROM cache_entries WHERE starts_with(key, 'retention-progress:');

DO $grants$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'examstutor_pipelines') THEN
        -- UPDATE for the FOR UPDATE that locks the entries being certified
        GRANT SELECT, INSERT, UPDATE, DELETE ON retention_progress TO examstutor_pipelines;
    END IF;
END
$grants$;
