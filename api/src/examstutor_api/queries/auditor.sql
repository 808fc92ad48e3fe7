-- Auditor: the audit log, read by seq. Events hold pseudonyms only.

-- name: events_page
SELECT seq, occurred_at, actor_pseudonym, actor_role, action, resource, resource_id, outcome,
       severity, ip_prefix, request_id, details
  FROM audit_events
 WHERE seq > $1
   AND ($2::timestamptz IS NULL OR occurred_at >= $2)
   AND ($3::timestamptz IS NULL OR occurred_at < $3)
 ORDER BY seq
 LIMIT $4;
