-- The student's own data: rectification, password, data-subject requests, consents
-- (routes/me.py) and the export (export.py). Every query is scoped by the caller's id.

-- name: email_taken_by_other
-- an email's blind index is one account's, student or staff
SELECT EXISTS (SELECT 1 FROM students WHERE email_index = $1 AND id <> $2)
    OR EXISTS (SELECT 1 FROM staff WHERE email_index = $1);

-- name: insert_completed_request
-- a request answered at once (access, export, rectification): the history shows it
INSERT INTO dsr_requests (student_id, type, status, received_at, due_at, completed_at)
VALUES ($1, $2, 'completed', now(), now() + make_interval(days => $3), now())
RETURNING id;

-- name: open_erasure_request
-- one open erasure request per student (partial unique index): a repeat returns nothing
INSERT INTO dsr_requests (student_id, type, status, due_at)
VALUES ($1, 'erasure', 'pending', now() + make_interval(days => $2))
ON CONFLICT (student_id) WHERE type = 'erasure' AND status IN ('pending', 'in_progress')
DO NOTHING
RETURNING id, status, due_at;

-- name: current_erasure_request
SELECT id, status, due_at
  FROM dsr_requests
 WHERE student_id = $1 AND type = 'erasure' AND status IN ('pending', 'in_progress');

-- name: list_requests
-- hold_reason is the steward's, never the student's
SELECT id, type, status, received_at, due_at, completed_at
  FROM dsr_requests
 WHERE student_id = $1
 ORDER BY received_at DESC, id;

-- name: get_request
SELECT id, type, status, received_at, due_at, completed_at
  FROM dsr_requests
 WHERE id = $1 AND student_id = $2;

-- name: password_hash
SELECT c.password_hash, s.email_index
  FROM credentials c JOIN students s ON s.id = c.student_id
 WHERE c.student_id = $1;

-- name: set_password
UPDATE credentials SET password_hash = $2, changed_at = now() WHERE student_id = $1;

-- name: revoke_other_sessions
-- every session of the student but the one that changed the password
UPDATE auth_sessions SET revoked_at = now()
 WHERE subject_id = $1 AND subject_kind = 'student' AND jti <> $2 AND revoked_at IS NULL;

-- name: security_event
INSERT INTO security_events (kind, actor_pseudonym, ip_prefix, details) VALUES ($1, $2, $3, $4);

-- name: claim_password_attempt
-- counted with failed logins (same window, same limit): guessing the current password
-- with a stolen token is guessing the password
INSERT INTO login_attempts (email_index, ip_prefix) VALUES ($1, $2) RETURNING id;

-- name: recent_email_attempts
SELECT count(*) FROM login_attempts
 WHERE email_index = $1 AND attempted_at > now() - make_interval(secs => $2);

-- name: email_retry_after
-- seconds until fewer than $3 attempts of the email remain in the window of $2 seconds
SELECT greatest(1, ceil(extract(epoch FROM attempted_at + make_interval(secs => $2) - now())))::int
  FROM login_attempts
 WHERE email_index = $1 AND attempted_at > now() - make_interval(secs => $2)
 ORDER BY attempted_at DESC
OFFSET $3 - 1 LIMIT 1;

-- name: clear_email_attempts
-- the password was proven: forget the email's failures, as a successful login does
DELETE FROM login_attempts WHERE email_index = $1;

-- name: consent_history
SELECT id, purpose, granted, given_by, policy_version, recorded_at
  FROM consents
 WHERE student_id = $1
 ORDER BY id;

-- name: current_consent
SELECT granted, given_by, recorded_at
  FROM consents
 WHERE student_id = $1 AND purpose = $2
 ORDER BY id DESC
 LIMIT 1;

-- name: append_consent
INSERT INTO consents (student_id, purpose, granted, given_by)
VALUES ($1, $2, $3, 'student')
RETURNING id, recorded_at;

-- Export (export.py): one query per category, each scoped by the student.

-- name: export_credentials
-- never the hash
SELECT changed_at, last_used_at FROM credentials WHERE student_id = $1;

-- name: export_guardian_consent
-- never the token's hash
SELECT created_at, expires_at, used_at, consents
  FROM guardian_consent_tokens
 WHERE student_id = $1
 ORDER BY created_at;

-- name: export_practice_sessions
SELECT id, exam, subject, question_ids, num_questions, score, created_at, completed_at
  FROM practice_sessions
 WHERE student_id = $1
 ORDER BY created_at, id;

-- name: export_practice_answers
SELECT a.session_id, a.question_id, a.choice, a.correct, a.answered_at
  FROM practice_answers a JOIN practice_sessions s ON s.id = a.session_id
 WHERE s.student_id = $1
 ORDER BY a.answered_at, a.session_id, a.question_id;

-- name: export_sessions
SELECT role, ip_prefix, created_at, last_used_at, expires_at, revoked_at
  FROM auth_sessions
 WHERE subject_id = $1 AND subject_kind = 'student'
 ORDER BY created_at;

-- name: export_access_log
-- events by the student or about them: $1 is their pseudonym, $2 every pseudonym that names
-- them (theirs and their email's, which sign-in events use), newest first
SELECT seq, occurred_at, actor_pseudonym = $1 AS by_you, actor_role, action, resource, outcome,
       ip_prefix, request_id
  FROM audit_events
 WHERE actor_pseudonym = ANY($2::text[]) OR resource_id = ANY($2::text[])
 ORDER BY seq DESC
 LIMIT $3;

-- name: export_security_events
SELECT occurred_at, kind, ip_prefix
  FROM security_events
 WHERE actor_pseudonym = ANY($1::text[])
 ORDER BY id;

-- name: export_login_attempts
SELECT attempted_at, ip_prefix FROM login_attempts WHERE email_index = $1 ORDER BY id;

-- name: student_email_index
SELECT email_index FROM students WHERE id = $1;
