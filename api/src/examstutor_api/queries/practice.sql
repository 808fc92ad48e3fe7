-- Exam practice: sessions (the questions drawn) and their answers.

-- name: insert_session
INSERT INTO practice_sessions (id, student_id, exam, subject, question_ids, num_questions)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING created_at;

-- name: own_session_for_update
SELECT id, exam, subject, question_ids, completed_at
  FROM practice_sessions
 WHERE id = $1 AND student_id = $2
   FOR UPDATE;

-- name: insert_answer
INSERT INTO practice_answers (session_id, question_id, choice, correct) VALUES ($1, $2, $3, $4);

-- name: complete_session
UPDATE practice_sessions SET score = $2, completed_at = now() WHERE id = $1
RETURNING completed_at;

-- name: own_history
SELECT id, exam, subject, num_questions, score, created_at, completed_at
  FROM practice_sessions
 WHERE student_id = $1
 ORDER BY created_at DESC, id DESC
 LIMIT $2;
