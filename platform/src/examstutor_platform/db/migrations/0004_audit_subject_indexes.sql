-- A student's access log (the export's access_log category) looks events up by the
-- student's pseudonym as actor or as resource; without these it scans every partition.
CREATE INDEX audit_events_actor ON audit_events (actor_pseudonym, seq);
CREATE INDEX audit_events_resource ON audit_events (resource_id, seq) WHERE resource_id IS NOT NULL;
