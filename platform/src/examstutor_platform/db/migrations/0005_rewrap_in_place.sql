-- A key rotation rewrites every ciphertext of the encrypted tables and sets key_version.
-- No query looks rows up by key_version (rotation finds the rows off the primary key by
-- their ciphertext headers, "IS DISTINCT FROM", which no index serves), and no data key
-- is ever deleted (keys are retired), so the foreign keys never search by it either; yet
-- an index on key_version makes every such UPDATE write each index of the table anew.
-- Without it, and with room left on each page, a rewrap (and a profile update) can
-- update a row in place (a HOT update): measured in bench/bench_rotation.py, a third
-- less server time.
DROP INDEX students_key_version;
DROP INDEX questions_key_version;
DROP INDEX outbox_key_version;
ALTER TABLE students SET (fillfactor = 90);
ALTER TABLE questions SET (fillfactor = 90);
