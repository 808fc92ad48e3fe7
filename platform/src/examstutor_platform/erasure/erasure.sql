-- Erasure of one data subject (examstutor_platform.erasure.engine).

-- name: request_for_update
SELECT id, student_id, type, status, received_at, due_at, completed_at, hold_reason,
       certificate_id
  FROM dsr_requests
 WHERE id = $1
   FOR UPDATE;

-- name: put_on_hold
UPDATE dsr_requests SET status = 'on_hold', hold_reason = $2 WHERE id = $1;

-- name: start_request
UPDATE dsr_requests SET status = 'in_progress', hold_reason = NULL WHERE id = $1;

-- name: complete_request
UPDATE dsr_requests
   SET status = 'completed', completed_at = now(), certificate_id = $2, hold_reason = NULL
 WHERE id = $1;

-- name: lock_student
SELECT email_index FROM students WHERE id = $1 FOR UPDATE;

-- name: delete_login_attempts
-- failed logins keyed by the student's email blind index (before the index is erased)
DELETE FROM login_attempts WHERE email_index = $1;

-- name: delete_credentials
DELETE FROM credentials WHERE student_id = $1;

-- name: delete_auth_sessions
-- deleting the session rows revokes every token at once (tokens need a live row)
DELETE FROM auth_sessions WHERE subject_id = $1 AND subject_kind = 'student';

-- name: delete_guardian_consent_tokens
DELETE FROM guardian_consent_tokens WHERE student_id = $1;

-- name: delete_outbox
-- messages about the student (guardian consent links): the payload names the student
-- by pseudonym; the recipient address is ciphertext
DELETE FROM outbox
 WHERE payload ->> 'student_pseudonym' = $1 OR payload ->> 'student_id' = $2::text;

-- name: delete_temp_files
DELETE FROM temp_files WHERE owner_pseudonym = $1;

-- name: anonymise_questions
UPDATE questions
   SET student_id = NULL, body_enc = NULL, key_version = NULL, status = 'anonymised',
       anonymised_at = coalesce(anonymised_at, now())
 WHERE student_id = $1;

-- name: anonymise_practice_sessions
UPDATE practice_sessions
   SET student_id = NULL, anonymised_at = coalesce(anonymised_at, now())
 WHERE student_id = $1;

-- name: erase_student
-- every personal column, the blind index and the key version; id and timestamps stay
-- (consents and requests name the id as proof of lawful basis and of this erasure)
UPDATE students
   SET email_index = NULL, email_enc = NULL, full_name_enc = NULL, phone_enc = NULL,
       date_of_birth_enc = NULL, guardian_email_enc = NULL, key_version = NULL,
       age_band = NULL, status = 'erased', erased_at = now(), updated_at = now()
 WHERE id = $1;

-- name: pending_requests
-- erasure requests with work to do: new, interrupted, or on hold whose holds are gone
-- released: when the last hold that could cover the request was released (NULL if none
-- ever did); a run for an on_hold request is keyed by it, so each release gets one run
SELECT r.id, r.status,
       (SELECT max(h.released_at) FROM legal_holds AS h
         WHERE h.released_at IS NOT NULL
           AND (h.student_id = r.student_id OR h.category = ANY ($1::text[]))) AS released
  FROM dsr_requests AS r
 WHERE r.type = 'erasure'
   AND (r.status IN ('pending', 'in_progress')
        OR (r.status = 'on_hold'
            AND NOT EXISTS (SELECT 1 FROM legal_holds AS h
                             WHERE h.released_at IS NULL
                               AND (h.student_id = r.student_id OR h.category = ANY ($1::text[])))))
 ORDER BY r.received_at, r.id;

-- name: overdue_requests
SELECT id, student_id, type, status, received_at, due_at
  FROM dsr_requests
 WHERE status IN ('pending', 'in_progress') AND due_at < $1
 ORDER BY due_at, id;
