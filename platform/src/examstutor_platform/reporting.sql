-- name: open_requests
SELECT type, count(*) AS open,
       count(*) FILTER (WHERE due_at < $1) AS overdue,
       min(due_at) AS next_due
  FROM dsr_requests
 WHERE status IN ('pending', 'in_progress', 'on_hold')
 GROUP BY type
 ORDER BY type;

-- name: last_certificates
SELECT DISTINCT ON (category) category, kind, issued_at, counts, run_id
  FROM deletion_certificates
 ORDER BY category, issued_at DESC;

-- name: data_keys
SELECT version, status, created_at, retired_at FROM data_keys ORDER BY version;

-- name: last_seal
SELECT day, rows, head, sealed_at FROM audit_seals ORDER BY day DESC LIMIT 1;

-- name: active_holds
SELECT count(*) FILTER (WHERE student_id IS NOT NULL) AS students,
       count(*) FILTER (WHERE category IS NOT NULL) AS categories
  FROM legal_holds
 WHERE released_at IS NULL;
