-- name: insert_student
INSERT INTO students (id, email_index, email_enc, full_name_enc, phone_enc, date_of_birth_enc,
                      guardian_email_enc, key_version, age_band, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: insert_credentials
INSERT INTO credentials (student_id, password_hash) VALUES ($1, $2);

-- name: load_student
SELECT id, email_enc, full_name_enc, phone_enc, date_of_birth_enc, guardian_email_enc,
       key_version, age_band, status, created_at, updated_at, last_active_at
  FROM students
 WHERE id = $1;

-- name: load_student_for_update
SELECT id, email_enc, full_name_enc, phone_enc, date_of_birth_enc, guardian_email_enc,
       key_version, age_band, status, created_at, updated_at, last_active_at
  FROM students
 WHERE id = $1
   FOR UPDATE;

-- name: rewrite_student
UPDATE students
   SET email_index = $2, email_enc = $3, full_name_enc = $4, phone_enc = $5,
       date_of_birth_enc = $6, guardian_email_enc = $7, key_version = $8, age_band = $9,
       updated_at = now()
 WHERE id = $1;
