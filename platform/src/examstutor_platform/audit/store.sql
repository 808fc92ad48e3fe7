-- name: append_event
INSERT INTO audit_events (actor_pseudonym, actor_role, action, resource, resource_id, outcome,
                          severity, ip_prefix, request_id, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb);
