-- Tutor questions (routes/questions.py, export.py). Bodies are AES-256-GCM ciphertext
-- bound to questions/body_enc/<question id>.

-- name: insert_question
INSERT INTO questions (id, student_id, subject, body_enc, key_version)
VALUES ($1, $2, $3, $4, $5)
RETURNING status, created_at;

-- name: list_questions
-- newest first, one page; a row more than the page says whether there is another
SELECT id, subject, body_enc, status, created_at
  FROM questions
 WHERE student_id = $1
 ORDER BY created_at DESC, id DESC
 LIMIT $2 OFFSET $3;

-- name: export_questions
SELECT id, subject, body_enc, status, created_at, anonymised_at
  FROM questions
 WHERE student_id = $1
 ORDER BY created_at, id;
