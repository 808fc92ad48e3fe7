-- Least-privilege roles. examstutor_api serves requests; examstutor_pipelines runs
-- retention, erasure, sealing and rotation. Both are NOLOGIN group roles: grant them
-- to the login users your deployment connects as (README, "Database roles").
-- Where the migrating user may not create roles (a managed PostgreSQL), the roles
-- are skipped here and the administrator runs the statements in README instead.

DO $roles$
DECLARE
    can_create boolean := (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user);
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['examstutor_api', 'examstutor_pipelines'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            IF can_create THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            ELSE
                RAISE NOTICE 'role % does not exist and % may not create it; see README', role_name, current_user;
            END IF;
        END IF;
    END LOOP;
END
$roles$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_ensure_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_drop_partitions_before(timestamptz) FROM PUBLIC;

DO $grants$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'examstutor_api') THEN
        GRANT USAGE ON SCHEMA public TO examstutor_api;
        GRANT SELECT ON schema_migrations, data_keys, deletion_certificates, audit_seals TO examstutor_api;
        GRANT SELECT, INSERT, UPDATE ON students, credentials, staff, guardian_consent_tokens,
            practice_sessions, auth_sessions, legal_holds TO examstutor_api;
        GRANT SELECT, INSERT ON consents, questions, practice_answers, dsr_requests,
            security_events, outbox TO examstutor_api;
        GRANT SELECT, INSERT, DELETE ON login_attempts, temp_files TO examstutor_api;
        GRANT SELECT, INSERT, UPDATE, DELETE ON cache_entries TO examstutor_api;
        -- audit events: read and append; seq and occurred_at are the database's to set
        GRANT SELECT ON audit_events TO examstutor_api;
        GRANT INSERT (actor_pseudonym, actor_role, action, resource, resource_id, outcome,
                      severity, ip_prefix, request_id, details) ON audit_events TO examstutor_api;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'examstutor_pipelines') THEN
        GRANT USAGE ON SCHEMA public TO examstutor_pipelines;
        GRANT SELECT ON schema_migrations TO examstutor_pipelines;
        GRANT SELECT, INSERT, UPDATE, DELETE ON data_keys, students, credentials, staff,
            guardian_consent_tokens, questions, practice_sessions, practice_answers,
            auth_sessions, login_attempts, dsr_requests, security_events, cache_entries,
            temp_files, outbox, rotation_checkpoints TO examstutor_pipelines;
        GRANT SELECT ON legal_holds TO examstutor_pipelines;
        GRANT SELECT, INSERT ON consents, deletion_certificates, audit_seals TO examstutor_pipelines;
        GRANT SELECT ON audit_events TO examstutor_pipelines;
        GRANT INSERT (actor_pseudonym, actor_role, action, resource, resource_id, outcome,
                      severity, ip_prefix, request_id, details) ON audit_events TO examstutor_pipelines;
        GRANT EXECUTE ON FUNCTION audit_ensure_partitions(date, date),
            audit_drop_partitions_before(timestamptz) TO examstutor_pipelines;
    END IF;
END
$grants$;
