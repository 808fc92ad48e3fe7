CREATE FUNCTION public.audit_drop_partitions_before(p_cutoff timestamp with time zone) RETURNS SETOF text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
DECLARE
    floor_cutoff timestamptz := least(p_cutoff, now() - interval '7 years');
    part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'audit_events'::regclass
         ORDER BY 2
    LOOP
        IF part.upper_bound <= floor_cutoff THEN
            EXECUTE format('ALTER TABLE audit_events DETACH PARTITION %I', part.name);
            EXECUTE format('DROP TABLE %I', part.name);
            RETURN NEXT part.name;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION public.audit_ensure_partitions(p_from date, p_to date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
DECLARE
    month   date := date_trunc('month', p_from)::date;
    name    text;
    created integer := 0;
BEGIN
    IF p_to < p_from THEN
        RAISE EXCEPTION 'audit_ensure_partitions: % is before %', p_to, p_from;
    END IF;
    IF p_to - p_from > 3660 * 3 THEN
        RAISE EXCEPTION 'audit_ensure_partitions: range too long';
    END IF;
    WHILE month <= p_to LOOP
        name := format('audit_events_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                name, (month::timestamp AT TIME ZONE 'UTC'),
                ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            -- triggers on the parent are cloned to partitions; keep the privileges identical
            created := created + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$$;

CREATE FUNCTION public.reject_modification() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE public.audit_events (
    seq bigint NOT NULL,
    occurred_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor_pseudonym text NOT NULL,
    actor_role text NOT NULL,
    action text NOT NULL,
    resource text NOT NULL,
    resource_id text,
    outcome text NOT NULL,
    severity text DEFAULT 'low'::text NOT NULL,
    ip_prefix text,
    request_id text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT audit_events_action_check CHECK ((action ~ '^(auth|data|student|admin|ndpr|security)\.[a-z_]+$'::text)),
    CONSTRAINT audit_events_severity_check CHECK ((severity = ANY (ARRAY['low'::text, 'medium'::text, 'high'::text, 'critical'::text])))
)
PARTITION BY RANGE (occurred_at);

ALTER TABLE public.audit_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.audit_seals (
    day date NOT NULL,
    timezone text NOT NULL,
    first_seq bigint,
    last_seq bigint,
    rows bigint NOT NULL,
    prev_head text NOT NULL,
    head text NOT NULL,
    key_id text NOT NULL,
    signature text NOT NULL,
    policy_version text NOT NULL,
    sealed_at timestamp with time zone DEFAULT now() NOT NULL,
    run_id text,
    CONSTRAINT audit_seals_head_check CHECK ((head ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT audit_seals_prev_head_check CHECK ((prev_head ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT audit_seals_rows_check CHECK ((rows >= 0))
);

CREATE TABLE public.auth_sessions (
    jti uuid NOT NULL,
    subject_id uuid NOT NULL,
    subject_kind text NOT NULL,
    role text NOT NULL,
    ip_prefix text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT auth_sessions_subject_kind_check CHECK ((subject_kind = ANY (ARRAY['student'::text, 'staff'::text])))
);

CREATE TABLE public.cache_entries (
    key text NOT NULL,
    value jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.consents (
    id bigint NOT NULL,
    student_id uuid NOT NULL,
    purpose text NOT NULL,
    granted boolean NOT NULL,
    given_by text NOT NULL,
    guardian_pseudonym text,
    policy_version text,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT consents_check CHECK (((given_by = 'student'::text) OR (guardian_pseudonym IS NOT NULL))),
    CONSTRAINT consents_given_by_check CHECK ((given_by = ANY (ARRAY['student'::text, 'guardian'::text]))),
    CONSTRAINT consents_purpose_check CHECK ((purpose ~ '^[a-z][a-z0-9_]{0,63}$'::text))
);

ALTER TABLE public.consents ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.consents_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.credentials (
    student_id uuid NOT NULL,
    password_hash text NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.data_keys (
    version integer NOT NULL,
    kek_id text NOT NULL,
    wrapped_key bytea NOT NULL,
    status text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    retired_at timestamp with time zone,
    CONSTRAINT data_keys_status_check CHECK ((status = ANY (ARRAY['primary'::text, 'active'::text, 'retired'::text]))),
    CONSTRAINT data_keys_version_check CHECK ((version > 0))
);

CREATE TABLE public.deletion_certificates (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    run_id text NOT NULL,
    kind text NOT NULL,
    category text NOT NULL,
    policy_version text NOT NULL,
    cutoff timestamp with time zone,
    counts jsonb NOT NULL,
    subjects_sha256 text NOT NULL,
    issued_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT deletion_certificates_kind_check CHECK ((kind = ANY (ARRAY['retention'::text, 'anonymisation'::text, 'erasure'::text]))),
    CONSTRAINT deletion_certificates_subjects_sha256_check CHECK ((subjects_sha256 ~ '^[0-9a-f]{64}$'::text))
);

CREATE TABLE public.dsr_requests (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    student_id uuid NOT NULL,
    type text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    due_at timestamp with time zone NOT NULL,
    completed_at timestamp with time zone,
    hold_reason text,
    certificate_id uuid,
    CONSTRAINT dsr_requests_check CHECK ((due_at > received_at)),
    CONSTRAINT dsr_requests_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'in_progress'::text, 'completed'::text, 'on_hold'::text, 'rejected'::text]))),
    CONSTRAINT dsr_requests_type_check CHECK ((type = ANY (ARRAY['access'::text, 'export'::text, 'rectification'::text, 'erasure'::text, 'objection'::text])))
);

CREATE TABLE public.guardian_consent_tokens (
    token_hash bytea NOT NULL,
    student_id uuid NOT NULL,
    guardian_pseudonym text NOT NULL,
    consents jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone
);

CREATE TABLE public.legal_holds (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    student_id uuid,
    category text,
    reason text NOT NULL,
    placed_by text NOT NULL,
    placed_at timestamp with time zone DEFAULT now() NOT NULL,
    released_at timestamp with time zone,
    released_by text,
    CONSTRAINT legal_holds_check CHECK (((student_id IS NULL) <> (category IS NULL))),
    CONSTRAINT legal_holds_reason_check CHECK (((length(reason) >= 1) AND (length(reason) <= 2000)))
);

CREATE TABLE public.login_attempts (
    id bigint NOT NULL,
    email_index bytea,
    ip_prefix text,
    attempted_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.login_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.login_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.outbox (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    kind text NOT NULL,
    recipient_enc bytea NOT NULL,
    key_version integer NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone
);

CREATE TABLE public.practice_answers (
    session_id uuid NOT NULL,
    question_id text NOT NULL,
    choice text NOT NULL,
    correct boolean NOT NULL,
    answered_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.practice_sessions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    student_id uuid,
    exam text NOT NULL,
    subject text NOT NULL,
    question_ids text[] NOT NULL,
    num_questions integer NOT NULL,
    score integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    anonymised_at timestamp with time zone,
    CONSTRAINT practice_sessions_num_questions_check CHECK ((num_questions > 0))
);

CREATE TABLE public.questions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    student_id uuid,
    subject text NOT NULL,
    body_enc bytea,
    key_version integer,
    status text DEFAULT 'open'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    anonymised_at timestamp with time zone,
    CONSTRAINT questions_status_check CHECK ((status = ANY (ARRAY['open'::text, 'answered'::text, 'anonymised'::text])))
)
WITH (fillfactor='90');

CREATE TABLE public.retention_progress (
    category text NOT NULL,
    attempt text NOT NULL,
    batch integer NOT NULL,
    run_id text NOT NULL,
    table_name text NOT NULL,
    row_count bigint NOT NULL,
    cutoff timestamp with time zone NOT NULL,
    students bytea NOT NULL,
    others text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE ONLY public.retention_progress ALTER COLUMN students SET STORAGE EXTERNAL;

CREATE TABLE public.rotation_checkpoints (
    target_version integer NOT NULL,
    table_name text NOT NULL,
    last_id text,
    rows_done bigint DEFAULT 0 NOT NULL,
    finished_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.security_events (
    id bigint NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text NOT NULL,
    actor_pseudonym text,
    ip_prefix text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE public.security_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.security_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.staff (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email_index bytea NOT NULL,
    email_enc bytea NOT NULL,
    key_version integer NOT NULL,
    role text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT staff_role_check CHECK ((role = ANY (ARRAY['auditor'::text, 'steward'::text, 'admin'::text])))
);

CREATE TABLE public.students (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email_index bytea,
    email_enc bytea,
    full_name_enc bytea,
    phone_enc bytea,
    date_of_birth_enc bytea,
    guardian_email_enc bytea,
    key_version integer,
    age_band text,
    status text DEFAULT 'active'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    last_active_at timestamp with time zone DEFAULT now() NOT NULL,
    erased_at timestamp with time zone,
    CONSTRAINT students_check CHECK (((status = ANY (ARRAY['erased'::text, 'anonymised'::text])) OR ((email_index IS NOT NULL) AND (email_enc IS NOT NULL) AND (key_version IS NOT NULL)))),
    CONSTRAINT students_status_check CHECK ((status = ANY (ARRAY['active'::text, 'pending_guardian_consent'::text, 'erased'::text, 'anonymised'::text])))
)
WITH (fillfactor='90');

CREATE TABLE public.temp_files (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    path text NOT NULL,
    owner_pseudonym text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (occurred_at, seq);

ALTER TABLE ONLY public.audit_seals
    ADD CONSTRAINT audit_seals_pkey PRIMARY KEY (day);

ALTER TABLE ONLY public.auth_sessions
    ADD CONSTRAINT auth_sessions_pkey PRIMARY KEY (jti);

ALTER TABLE ONLY public.cache_entries
    ADD CONSTRAINT cache_entries_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.consents
    ADD CONSTRAINT consents_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.credentials
    ADD CONSTRAINT credentials_pkey PRIMARY KEY (student_id);

ALTER TABLE ONLY public.data_keys
    ADD CONSTRAINT data_keys_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.deletion_certificates
    ADD CONSTRAINT deletion_certificates_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.deletion_certificates
    ADD CONSTRAINT deletion_certificates_run_id_category_key UNIQUE (run_id, category);

ALTER TABLE ONLY public.dsr_requests
    ADD CONSTRAINT dsr_requests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.guardian_consent_tokens
    ADD CONSTRAINT guardian_consent_tokens_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.legal_holds
    ADD CONSTRAINT legal_holds_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.login_attempts
    ADD CONSTRAINT login_attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.practice_answers
    ADD CONSTRAINT practice_answers_pkey PRIMARY KEY (session_id, question_id);

ALTER TABLE ONLY public.practice_sessions
    ADD CONSTRAINT practice_sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.retention_progress
    ADD CONSTRAINT retention_progress_pkey PRIMARY KEY (category, attempt, batch);

ALTER TABLE ONLY public.rotation_checkpoints
    ADD CONSTRAINT rotation_checkpoints_pkey PRIMARY KEY (target_version, table_name);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.security_events
    ADD CONSTRAINT security_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_email_index_key UNIQUE (email_index);

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.students
    ADD CONSTRAINT students_email_index_key UNIQUE (email_index);

ALTER TABLE ONLY public.students
    ADD CONSTRAINT students_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.temp_files
    ADD CONSTRAINT temp_files_pkey PRIMARY KEY (id);

CREATE INDEX audit_events_actor ON ONLY public.audit_events USING btree (actor_pseudonym, seq);

CREATE INDEX audit_events_resource ON ONLY public.audit_events USING btree (resource_id, seq) WHERE (resource_id IS NOT NULL);

CREATE INDEX audit_events_seq ON ONLY public.audit_events USING btree (seq);

CREATE INDEX auth_sessions_last_used ON public.auth_sessions USING btree (last_used_at);

CREATE INDEX auth_sessions_subject ON public.auth_sessions USING btree (subject_id);

CREATE INDEX cache_entries_created ON public.cache_entries USING btree (created_at);

CREATE INDEX consents_student ON public.consents USING btree (student_id, purpose, id);

CREATE INDEX credentials_last_used ON public.credentials USING btree (last_used_at);

CREATE UNIQUE INDEX data_keys_one_primary ON public.data_keys USING btree ((true)) WHERE (status = 'primary'::text);

CREATE UNIQUE INDEX dsr_requests_one_open_erasure ON public.dsr_requests USING btree (student_id) WHERE ((type = 'erasure'::text) AND (status = ANY (ARRAY['pending'::text, 'in_progress'::text])));

CREATE INDEX dsr_requests_status ON public.dsr_requests USING btree (status, due_at);

CREATE INDEX dsr_requests_student ON public.dsr_requests USING btree (student_id);

CREATE INDEX guardian_consent_tokens_student ON public.guardian_consent_tokens USING btree (student_id);

CREATE INDEX legal_holds_active_category ON public.legal_holds USING btree (category) WHERE (released_at IS NULL);

CREATE INDEX legal_holds_active_student ON public.legal_holds USING btree (student_id) WHERE (released_at IS NULL);

CREATE INDEX login_attempts_email ON public.login_attempts USING btree (email_index, attempted_at);

CREATE INDEX login_attempts_ip ON public.login_attempts USING btree (ip_prefix, attempted_at);

CREATE INDEX outbox_unsent ON public.outbox USING btree (created_at) WHERE (sent_at IS NULL);

CREATE INDEX practice_sessions_created ON public.practice_sessions USING btree (created_at);

CREATE INDEX practice_sessions_student ON public.practice_sessions USING btree (student_id, created_at);

CREATE INDEX questions_created ON public.questions USING btree (created_at);

CREATE INDEX questions_student ON public.questions USING btree (student_id, created_at);

CREATE INDEX security_events_occurred ON public.security_events USING btree (occurred_at);

CREATE INDEX students_last_active ON public.students USING btree (last_active_at);

CREATE INDEX temp_files_created ON public.temp_files USING btree (created_at);

CREATE TRIGGER audit_events_append_only BEFORE DELETE OR UPDATE ON public.audit_events FOR EACH ROW EXECUTE FUNCTION public.reject_modification();

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON public.audit_events FOR EACH STATEMENT EXECUTE FUNCTION public.reject_modification();

CREATE TRIGGER audit_seals_append_only BEFORE DELETE OR UPDATE ON public.audit_seals FOR EACH ROW EXECUTE FUNCTION public.reject_modification();

CREATE TRIGGER consents_append_only BEFORE DELETE OR UPDATE ON public.consents FOR EACH ROW EXECUTE FUNCTION public.reject_modification();

CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON public.consents FOR EACH STATEMENT EXECUTE FUNCTION public.reject_modification();

ALTER TABLE ONLY public.credentials
    ADD CONSTRAINT credentials_student_id_fkey FOREIGN KEY (student_id) REFERENCES public.students(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.guardian_consent_tokens
    ADD CONSTRAINT guardian_consent_tokens_student_id_fkey FOREIGN KEY (student_id) REFERENCES public.students(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_key_version_fkey FOREIGN KEY (key_version) REFERENCES public.data_keys(version);

ALTER TABLE ONLY public.practice_answers
    ADD CONSTRAINT practice_answers_session_id_fkey FOREIGN KEY (session_id) REFERENCES public.practice_sessions(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.practice_sessions
    ADD CONSTRAINT practice_sessions_student_id_fkey FOREIGN KEY (student_id) REFERENCES public.students(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_key_version_fkey FOREIGN KEY (key_version) REFERENCES public.data_keys(version);

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_student_id_fkey FOREIGN KEY (student_id) REFERENCES public.students(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.rotation_checkpoints
    ADD CONSTRAINT rotation_checkpoints_target_version_fkey FOREIGN KEY (target_version) REFERENCES public.data_keys(version);

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_key_version_fkey FOREIGN KEY (key_version) REFERENCES public.data_keys(version);

ALTER TABLE ONLY public.students
    ADD CONSTRAINT students_key_version_fkey FOREIGN KEY (key_version) REFERENCES public.data_keys(version);

GRANT USAGE ON SCHEMA public TO examstutor_api;
GRANT USAGE ON SCHEMA public TO examstutor_pipelines;

REVOKE ALL ON FUNCTION public.audit_drop_partitions_before(p_cutoff timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.audit_drop_partitions_before(p_cutoff timestamp with time zone) TO examstutor_pipelines;

REVOKE ALL ON FUNCTION public.audit_ensure_partitions(p_from date, p_to date) FROM PUBLIC;
GRANT ALL ON FUNCTION public.audit_ensure_partitions(p_from date, p_to date) TO examstutor_pipelines;

GRANT SELECT ON TABLE public.audit_events TO examstutor_api;
GRANT SELECT ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(actor_pseudonym) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(actor_pseudonym) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(actor_role) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(actor_role) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(action) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(action) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(resource) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(resource) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(resource_id) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(resource_id) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(outcome) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(outcome) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(severity) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(severity) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(ip_prefix) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(ip_prefix) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(request_id) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(request_id) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT INSERT(details) ON TABLE public.audit_events TO examstutor_api;
GRANT INSERT(details) ON TABLE public.audit_events TO examstutor_pipelines;

GRANT SELECT ON TABLE public.audit_seals TO examstutor_api;
GRANT SELECT,INSERT ON TABLE public.audit_seals TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.auth_sessions TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.auth_sessions TO examstutor_pipelines;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cache_entries TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cache_entries TO examstutor_pipelines;

GRANT SELECT,INSERT ON TABLE public.consents TO examstutor_api;
GRANT SELECT,INSERT ON TABLE public.consents TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.credentials TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.credentials TO examstutor_pipelines;

GRANT SELECT ON TABLE public.data_keys TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.data_keys TO examstutor_pipelines;

GRANT SELECT ON TABLE public.deletion_certificates TO examstutor_api;
GRANT SELECT,INSERT ON TABLE public.deletion_certificates TO examstutor_pipelines;

GRANT SELECT,INSERT ON TABLE public.dsr_requests TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.dsr_requests TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.guardian_consent_tokens TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.guardian_consent_tokens TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.legal_holds TO examstutor_api;
GRANT SELECT ON TABLE public.legal_holds TO examstutor_pipelines;

GRANT SELECT,INSERT,DELETE ON TABLE public.login_attempts TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.login_attempts TO examstutor_pipelines;

GRANT SELECT,INSERT ON TABLE public.outbox TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.outbox TO examstutor_pipelines;

GRANT SELECT,INSERT ON TABLE public.practice_answers TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.practice_answers TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.practice_sessions TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.practice_sessions TO examstutor_pipelines;

GRANT SELECT,INSERT ON TABLE public.questions TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.questions TO examstutor_pipelines;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.retention_progress TO examstutor_pipelines;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.rotation_checkpoints TO examstutor_pipelines;

GRANT SELECT ON TABLE public.schema_migrations TO examstutor_api;
GRANT SELECT ON TABLE public.schema_migrations TO examstutor_pipelines;

GRANT SELECT,INSERT ON TABLE public.security_events TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.security_events TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.staff TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.staff TO examstutor_pipelines;

GRANT SELECT,INSERT,UPDATE ON TABLE public.students TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.students TO examstutor_pipelines;

GRANT SELECT,INSERT,DELETE ON TABLE public.temp_files TO examstutor_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.temp_files TO examstutor_pipelines;
