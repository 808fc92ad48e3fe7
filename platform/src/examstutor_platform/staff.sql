-- Staff accounts (auditors, stewards, admins). Used by examstutor_platform.staff.

-- name: insert_staff
INSERT INTO staff (id, email_index, email_enc, key_version, role, password_hash)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (email_index) DO NOTHING
RETURNING id;

-- name: student_uses_email
SELECT EXISTS (SELECT 1 FROM students WHERE email_index = $1);
