-- The daily audit seal, the export and their verification.
-- Used by examstutor_platform.audit.seal, .export, .verify and .stream.

-- name: lock_sealing
-- One sealer at a time (transaction-scoped advisory lock; $1 is a fixed key).
SELECT pg_advisory_xact_lock($1);

-- name: lock_export_day
-- One exporter per day at a time ($1 a fixed key, $2 the day's ordinal).
SELECT pg_advisory_xact_lock($1::int4, $2::int4);

-- name: hold_export_day
-- The same lock held by the session, past a commit: the one-pass seal and export keeps
-- other exporters of the day out until its folder is published (then release_export_day).
SELECT pg_advisory_lock($1::int4, $2::int4);

-- name: release_export_day
SELECT pg_advisory_unlock($1::int4, $2::int4);

-- name: seal_for_day
SELECT day, timezone, first_seq, last_seq, rows, prev_head, head, key_id, signature,
       policy_version, sealed_at, run_id
FROM audit_seals
WHERE day = $1;

-- name: seal_before
SELECT day, timezone, first_seq, last_seq, rows, prev_head, head, key_id, signature,
       policy_version, sealed_at, run_id
FROM audit_seals
WHERE day < $1
ORDER BY day DESC
LIMIT 1;

-- name: seals_between
SELECT day, timezone, first_seq, last_seq, rows, prev_head, head, key_id, signature,
       policy_version, sealed_at, run_id
FROM audit_seals
WHERE day >= $1 AND day <= $2
ORDER BY day;

-- name: first_sealed_day
SELECT min(day) FROM audit_seals;

-- name: last_sealed_day
SELECT max(day) FROM audit_seals;

-- name: insert_seal
INSERT INTO audit_seals (day, timezone, first_seq, last_seq, rows, prev_head, head, key_id,
                         signature, policy_version, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING day, timezone, first_seq, last_seq, rows, prev_head, head, key_id, signature,
          policy_version, sealed_at, run_id;

-- name: earliest_event_before
SELECT seq, occurred_at
FROM audit_events
WHERE occurred_at < $1
ORDER BY occurred_at, seq
LIMIT 1;

-- name: day_seq_outside
-- A row of the day whose seq lies outside the sealed range (a back-dated insert).
SELECT seq
FROM audit_events
WHERE occurred_at >= $1 AND occurred_at < $2 AND (seq < $3 OR seq > $4)
ORDER BY seq
LIMIT 1;

-- name: day_first_seq
SELECT min(seq) FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2;

-- name: oldest_partition_start
-- Lower bound of the oldest audit partition still attached (older ones were dropped).
SELECT min((regexp_match(pg_get_expr(c.relpartbound, c.oid),
                         'FROM \(''([^'']+)''\)'))[1]::timestamptz)
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_events'::regclass;

-- name: day_rows
-- A business day's events in seq order ($1, $2: the day's bounds), as COPY text that
-- audit/stream.py parses: occurred_at as microseconds since the epoch (exact: extract
-- gives numeric), details as jsonb text. The canonical text of each row is built from
-- these columns in audit/columnar.py.
SELECT seq, (extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_us,
       actor_pseudonym, actor_role, action, resource, resource_id, outcome, severity,
       ip_prefix, request_id, details
FROM audit_events
WHERE occurred_at >= $1 AND occurred_at < $2
ORDER BY seq;
