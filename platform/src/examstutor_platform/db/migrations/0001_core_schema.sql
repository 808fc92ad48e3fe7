-- ExamsTutor core schema: every table the product holds (DESIGN.md, data flow).
-- PII columns end in _enc: AES-256-GCM ciphertext whose first bytes name the
-- data-key version (see examstutor_platform.crypto). key_version on a row is
-- the version every _enc column of that row is encrypted under.

CREATE TABLE data_keys (
    version      integer PRIMARY KEY CHECK (version > 0),
    kek_id       text        NOT NULL,
    wrapped_key  bytea       NOT NULL,
    status       text        NOT NULL CHECK (status IN ('primary', 'active', 'retired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
-- at most one primary key at any moment
CREATE UNIQUE INDEX data_keys_one_primary ON data_keys ((true)) WHERE status = 'primary';

CREATE TABLE students (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email_index         bytea UNIQUE,              -- HMAC blind index; NULL once anonymised
    email_enc           bytea,
    full_name_enc       bytea,
    phone_enc           bytea,
    date_of_birth_enc   bytea,
    guardian_email_enc  bytea,
    key_version         integer REFERENCES data_keys (version),
    age_band            text,                      -- kept as a statistic after anonymisation
    status              text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'pending_guardian_consent', 'erased', 'anonymised')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_active_at      timestamptz NOT NULL DEFAULT now(),
    erased_at           timestamptz,
    CHECK (status IN ('erased', 'anonymised') OR (email_index IS NOT NULL AND email_enc IS NOT NULL
                                                 AND key_version IS NOT NULL))
);
CREATE INDEX students_last_active ON students (last_active_at);
CREATE INDEX students_key_version ON students (key_version);

CREATE TABLE credentials (
    student_id     uuid PRIMARY KEY REFERENCES students (id) ON DELETE CASCADE,
    password_hash  text        NOT NULL,           -- argon2id encoded hash
    changed_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_last_used ON credentials (last_used_at);

CREATE TABLE staff (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email_index    bytea       NOT NULL UNIQUE,
    email_enc      bytea       NOT NULL,
    key_version    integer     NOT NULL REFERENCES data_keys (version),
    role           text        NOT NULL CHECK (role IN ('auditor', 'steward', 'admin')),
    password_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- Consent ledger: append-only (trigger below). Who consented: the student or a guardian.
CREATE TABLE consents (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    student_id           uuid        NOT NULL,
    purpose              text        NOT NULL CHECK (purpose ~ '^[a-z][a-z0-9_]{0,63}$'),
    granted              boolean     NOT NULL,
    given_by             text        NOT NULL CHECK (given_by IN ('student', 'guardian')),
    guardian_pseudonym   text,
    policy_version       text,
    recorded_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (given_by = 'student' OR guardian_pseudonym IS NOT NULL)
);
CREATE INDEX consents_student ON consents (student_id, purpose, id);

CREATE TABLE guardian_consent_tokens (
    token_hash     bytea PRIMARY KEY,              -- SHA-256 of the token; the token is never stored
    student_id     uuid        NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    guardian_pseudonym text    NOT NULL,
    consents       jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- what the guardian is asked to grant
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX guardian_consent_tokens_student ON guardian_consent_tokens (student_id);

CREATE TABLE questions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    student_id     uuid REFERENCES students (id) ON DELETE SET NULL,
    subject        text        NOT NULL,
    body_enc       bytea,
    key_version    integer REFERENCES data_keys (version),
    status         text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'anonymised')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    anonymised_at  timestamptz
);
CREATE INDEX questions_student ON questions (student_id, created_at);
CREATE INDEX questions_created ON questions (created_at);
CREATE INDEX questions_key_version ON questions (key_version);

CREATE TABLE practice_sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    student_id     uuid REFERENCES students (id) ON DELETE SET NULL,
    exam           text        NOT NULL,
    subject        text        NOT NULL,
    question_ids   text[]      NOT NULL,
    num_questions  integer     NOT NULL CHECK (num_questions > 0),
    score          integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    anonymised_at  timestamptz
);
CREATE INDEX practice_sessions_student ON practice_sessions (student_id, created_at);
CREATE INDEX practice_sessions_created ON practice_sessions (created_at);

CREATE TABLE practice_answers (
    session_id     uuid        NOT NULL REFERENCES practice_sessions (id) ON DELETE CASCADE,
    question_id    text        NOT NULL,
    choice         text        NOT NULL,
    correct        boolean     NOT NULL,
    answered_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, question_id)
);

CREATE TABLE auth_sessions (
    jti            uuid PRIMARY KEY,
    subject_id     uuid        NOT NULL,           -- a student's or a staff member's id
    subject_kind   text        NOT NULL CHECK (subject_kind IN ('student', 'staff')),
    role           text        NOT NULL,
    ip_prefix      text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz
);
CREATE INDEX auth_sessions_subject ON auth_sessions (subject_id);
CREATE INDEX auth_sessions_last_used ON auth_sessions (last_used_at);

-- Failed logins, counted across replicas; keyed by blind index and IP prefix.
CREATE TABLE login_attempts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_index    bytea,
    ip_prefix      text,
    attempted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email ON login_attempts (email_index, attempted_at);
CREATE INDEX login_attempts_ip ON login_attempts (ip_prefix, attempted_at);

CREATE TABLE dsr_requests (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    student_id     uuid        NOT NULL,            -- kept after erasure: the request is the proof
    type           text        NOT NULL CHECK (type IN ('access', 'export', 'rectification', 'erasure', 'objection')),
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'in_progress', 'completed', 'on_hold', 'rejected')),
    received_at    timestamptz NOT NULL DEFAULT now(),
    due_at         timestamptz NOT NULL,
    completed_at   timestamptz,
    hold_reason    text,
    certificate_id uuid,
    CHECK (due_at > received_at)
);
CREATE INDEX dsr_requests_status ON dsr_requests (status, due_at);
CREATE INDEX dsr_requests_student ON dsr_requests (student_id);
-- one open erasure request per student
CREATE UNIQUE INDEX dsr_requests_one_open_erasure ON dsr_requests (student_id)
    WHERE type = 'erasure' AND status IN ('pending', 'in_progress');

CREATE TABLE legal_holds (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    student_id     uuid,
    category       text,
    reason         text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    placed_by      text        NOT NULL,            -- staff pseudonym
    placed_at      timestamptz NOT NULL DEFAULT now(),
    released_at    timestamptz,
    released_by    text,
    CHECK ((student_id IS NULL) <> (category IS NULL))
);
CREATE INDEX legal_holds_active_student ON legal_holds (student_id) WHERE released_at IS NULL;
CREATE INDEX legal_holds_active_category ON legal_holds (category) WHERE released_at IS NULL;

CREATE TABLE security_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    kind           text        NOT NULL,
    actor_pseudonym text,
    ip_prefix      text,
    details        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX security_events_occurred ON security_events (occurred_at);

CREATE TABLE cache_entries (
    key            text PRIMARY KEY,
    value          jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cache_entries_created ON cache_entries (created_at);

CREATE TABLE temp_files (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    path           text        NOT NULL,
    owner_pseudonym text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX temp_files_created ON temp_files (created_at);

CREATE TABLE deletion_certificates (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id           text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('retention', 'anonymisation', 'erasure')),
    category         text        NOT NULL,
    policy_version   text        NOT NULL,
    cutoff           timestamptz,
    counts           jsonb       NOT NULL,
    subjects_sha256  text        NOT NULL CHECK (subjects_sha256 ~ '^[0-9a-f]{64}$'),
    issued_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, category)
);

-- Notifications waiting to be sent (guardian consent links, erasure confirmations).
CREATE TABLE outbox (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind           text        NOT NULL,
    recipient_enc  bytea       NOT NULL,
    key_version    integer     NOT NULL REFERENCES data_keys (version),
    payload        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz
);
CREATE INDEX outbox_unsent ON outbox (created_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_key_version ON outbox (key_version);

-- Progress of a key rotation, so an interrupted rewrap resumes where it stopped.
CREATE TABLE rotation_checkpoints (
    target_version integer     NOT NULL REFERENCES data_keys (version),
    table_name     text        NOT NULL,
    last_id        text,
    rows_done      bigint      NOT NULL DEFAULT 0,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_version, table_name)
);

-- Append-only tables: reject UPDATE, DELETE and TRUNCATE for every role.
CREATE FUNCTION reject_modification() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER consents_append_only
    BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION reject_modification();
CREATE TRIGGER consents_no_truncate
    BEFORE TRUNCATE ON consents
    FOR EACH STATEMENT EXECUTE FUNCTION reject_modification();
