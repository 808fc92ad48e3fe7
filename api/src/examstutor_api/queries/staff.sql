-- Admin: staff accounts. Creation is examstutor_platform.staff.create_staff.

-- name: list_staff
SELECT id, email_enc, role, created_at, revoked_at FROM staff ORDER BY created_at, id;

-- name: staff_for_update
SELECT id, role, revoked_at FROM staff WHERE id = $1 FOR UPDATE;

-- name: revoke_staff
UPDATE staff SET revoked_at = now() WHERE id = $1 RETURNING revoked_at;

-- name: revoke_staff_sessions
UPDATE auth_sessions SET revoked_at = now()
 WHERE subject_id = $1 AND subject_kind = 'staff' AND revoked_at IS NULL;
