-- name: email_in_use
-- Registration and guardian consent (routes/auth_routes.py).
SELECT EXISTS (SELECT 1 FROM students WHERE email_index = $1)
    OR EXISTS (SELECT 1 FROM staff WHERE email_index = $1);

-- name: insert_consent
INSERT INTO consents (student_id, purpose, granted, given_by, guardian_pseudonym)
VALUES ($1, $2, $3, $4, $5);

-- name: insert_guardian_token
INSERT INTO guardian_consent_tokens (token_hash, student_id, guardian_pseudonym, consents,
                                     expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(days => $5))
RETURNING expires_at;

-- name: insert_outbox
INSERT INTO outbox (id, kind, recipient_enc, key_version, payload) VALUES ($1, $2, $3, $4, $5);

-- name: guardian_token_for_update
SELECT t.student_id, t.guardian_pseudonym, t.consents, t.used_at,
       t.expires_at <= now() AS expired, s.status
  FROM guardian_consent_tokens t
  JOIN students s ON s.id = t.student_id
 WHERE t.token_hash = $1
   FOR UPDATE OF t, s;

-- name: use_guardian_token
UPDATE guardian_consent_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL;

-- name: activate_student
UPDATE students SET status = 'active', updated_at = now()
 WHERE id = $1 AND status = 'pending_guardian_consent';
