-- name: session_principal
SELECT s.subject_id, s.subject_kind, s.role, s.last_used_at,
       st.status AS student_status, f.revoked_at AS staff_revoked_at
  FROM auth_sessions s
  LEFT JOIN students st ON s.subject_kind = 'student' AND st.id = s.subject_id
  LEFT JOIN staff f ON s.subject_kind = 'staff' AND f.id = s.subject_id
 WHERE s.jti = $1 AND s.revoked_at IS NULL AND s.expires_at > now();

-- name: touch_session
UPDATE auth_sessions SET last_used_at = now()
 WHERE jti = $1 AND last_used_at < now() - interval '1 minute';

-- name: open_session
INSERT INTO auth_sessions (jti, subject_id, subject_kind, role, ip_prefix, expires_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: revoke_session
UPDATE auth_sessions SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL;

-- name: revoke_other_sessions
UPDATE auth_sessions SET revoked_at = now()
 WHERE subject_id = $1 AND jti <> $2 AND revoked_at IS NULL;

-- name: student_login
SELECT s.id, s.status, c.password_hash
  FROM students s JOIN credentials c ON c.student_id = s.id
 WHERE s.email_index = $1;

-- name: staff_login
SELECT id, role, password_hash FROM staff WHERE email_index = $1 AND revoked_at IS NULL;

-- name: record_login_success
WITH touched AS (
    UPDATE credentials SET last_used_at = now() WHERE student_id = $1
)
UPDATE students SET last_active_at = now() WHERE id = $1;

-- name: claim_attempt
-- Login throttling (per email blind index and per client IP prefix), shared by every
-- replica through the database. An attempt is claimed BEFORE the password is checked, so
-- concurrent guesses see each other; a success clears the email's rows.
INSERT INTO login_attempts (email_index, ip_prefix) VALUES ($1, $2) RETURNING id;

-- name: recent_failures
SELECT (SELECT count(*) FROM login_attempts
         WHERE email_index = $1 AND attempted_at > now() - make_interval(secs => $3)) AS by_email,
       (SELECT count(*) FROM login_attempts
         WHERE ip_prefix = $2 AND attempted_at > now() - make_interval(secs => $3)) AS by_ip;

-- name: release_attempt
DELETE FROM login_attempts WHERE id = $1;

-- name: email_retry_after
-- seconds until fewer than $3 attempts of the email remain in the window of $2 seconds
SELECT greatest(1, ceil(extract(epoch FROM attempted_at + make_interval(secs => $2) - now())))::int
  FROM login_attempts
 WHERE email_index = $1 AND attempted_at > now() - make_interval(secs => $2)
 ORDER BY attempted_at DESC
OFFSET $3 - 1 LIMIT 1;

-- name: ip_retry_after
-- seconds until fewer than $3 attempts of the IP prefix remain in the window of $2 seconds
SELECT greatest(1, ceil(extract(epoch FROM attempted_at + make_interval(secs => $2) - now())))::int
  FROM login_attempts
 WHERE ip_prefix = $1 AND attempted_at > now() - make_interval(secs => $2)
 ORDER BY attempted_at DESC
OFFSET $3 - 1 LIMIT 1;

-- name: clear_failures
DELETE FROM login_attempts WHERE email_index = $1;

-- name: security_event
INSERT INTO security_events (kind, actor_pseudonym, ip_prefix, details) VALUES ($1, $2, $3, $4);
