-- Audit log: append-only, monthly range partitions, seq and occurred_at set by the database.

CREATE TABLE audit_events (
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_pseudonym  text        NOT NULL,
    actor_role       text        NOT NULL,
    action           text        NOT NULL CHECK (action ~ '^(auth|data|student|admin|ndpr|security)\.[a-z_]+$'),
    resource         text        NOT NULL,
    resource_id      text,
    outcome          text        NOT NULL,
    severity         text        NOT NULL DEFAULT 'low' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    ip_prefix        text,
    request_id       text,
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (occurred_at, seq)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX audit_events_seq ON audit_events (seq);

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION reject_modification();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_modification();

-- Creates the monthly partitions covering [p_from, p_to]; returns how many it created.
-- The pipelines call it daily for the coming months, so no insert fails for want of one.
CREATE FUNCTION audit_ensure_partitions(p_from date, p_to date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- Drops whole monthly partitions that end before p_cutoff, never one younger than 7 years.
-- Returns the dropped partitions' names.
CREATE FUNCTION audit_drop_partitions_before(p_cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

CREATE TABLE audit_seals (
    day             date PRIMARY KEY,
    timezone        text        NOT NULL,
    first_seq       bigint,
    last_seq        bigint,
    rows            bigint      NOT NULL CHECK (rows >= 0),
    prev_head       text        NOT NULL CHECK (prev_head ~ '^[0-9a-f]{64}$'),
    head            text        NOT NULL CHECK (head ~ '^[0-9a-f]{64}$'),
    key_id          text        NOT NULL,
    signature       text        NOT NULL,
    policy_version  text        NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT now(),
    run_id          text
);

CREATE TRIGGER audit_seals_append_only
    BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION reject_modification();
