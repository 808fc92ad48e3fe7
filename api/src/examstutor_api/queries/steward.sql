-- Steward: the data-subject request queue and legal holds. Student ids never leave
-- the API unpseudonymised; nothing here decrypts.

-- name: dsr_queue
SELECT id, student_id, type, status, received_at, due_at, completed_at, hold_reason,
       certificate_id,
       (due_at < now() AND status NOT IN ('completed', 'rejected')) AS overdue
  FROM dsr_requests
 WHERE ($1::text IS NULL OR status = $1)
 ORDER BY due_at, id
 LIMIT $2 OFFSET $3;

-- name: student_exists
SELECT EXISTS (SELECT 1 FROM students WHERE id = $1);

-- name: insert_hold
INSERT INTO legal_holds (student_id, category, reason, placed_by)
VALUES ($1, $2, $3, $4)
RETURNING id, student_id, category, reason, placed_by, placed_at, released_at, released_by;

-- name: list_holds
SELECT id, student_id, category, reason, placed_by, placed_at, released_at, released_by
  FROM legal_holds
 WHERE $1 OR released_at IS NULL
 ORDER BY placed_at DESC, id;

-- name: hold_for_update
SELECT id, released_at FROM legal_holds WHERE id = $1 FOR UPDATE;

-- name: release_hold
UPDATE legal_holds SET released_at = now(), released_by = $2
 WHERE id = $1
RETURNING id, student_id, category, reason, placed_by, placed_at, released_at, released_by;
