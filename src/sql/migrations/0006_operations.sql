-- Operations: a least-privilege role for workers, and bounded pgembed.errors.

-- Settings an operator may change with UPDATE.
CREATE TABLE pgembed.settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  description text NOT NULL
);
INSERT INTO pgembed.settings (name, value, description) VALUES
  ('errors_retention', '7 days', 'pgembed.errors rows older than this are deleted by workers (an interval)'),
  ('errors_max_rows', '100000', 'at most this many pgembed.errors rows are kept, newest first');

-- Deletes pgembed.errors rows past the retention period or beyond the row cap; workers call it with
-- their heartbeat. Returns the number of rows deleted.
CREATE FUNCTION pgembed.prune_errors() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  retention interval := (SELECT value::interval FROM pgembed.settings WHERE name = 'errors_retention');
  max_rows bigint := (SELECT value::bigint FROM pgembed.settings WHERE name = 'errors_max_rows');
  cutoff bigint;
  n bigint := 0;
  m bigint := 0;
BEGIN
  DELETE FROM pgembed.errors WHERE created_at < now() - retention;
  GET DIAGNOSTICS n = ROW_COUNT;
  SELECT id INTO cutoff FROM pgembed.errors ORDER BY id DESC OFFSET max_rows LIMIT 1;
  IF cutoff IS NOT NULL THEN
    DELETE FROM pgembed.errors WHERE id <= cutoff;
    GET DIAGNOSTICS m = ROW_COUNT;
  END IF;
  RETURN n + m;
END
$$;

-- The deferred index build runs in a worker, which need not own the chunk table. Its search_path
-- holds pgvector's schema, for the operator classes.
DO $$
BEGIN
  EXECUTE format(
    'ALTER FUNCTION pgembed._create_indexes(text) SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
    (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'));
END
$$;

-- Functions are executable by PUBLIC by default; these change things as their owner, so only
-- the owner and the worker role may call them.
REVOKE EXECUTE ON FUNCTION pgembed._create_indexes(text) FROM PUBLIC;

-- Creates (if needed) a NOLOGIN role with exactly what a worker needs, and grants it on every
-- pipeline: read the source tables; read and write the chunk tables and pgembed's own tables.
-- Workers log in as a role that is a member of it: CREATE ROLE w LOGIN PASSWORD '…' IN ROLE pgembed_worker.
-- Pipelines enabled later are granted to the role automatically when it exists, and migrate()
-- re-runs this after an upgrade so new pgembed tables are covered.
CREATE FUNCTION pgembed.grant_worker_role(role_name name DEFAULT 'pgembed_worker') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA pgembed TO %I', role_name);
  -- Workers read and write pgembed's tables (queue, wakeups, workers, errors, …), but only read its
  -- configuration: what a pipeline reads and writes, with which model, is the owner's to decide.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgembed TO %I', role_name);
  EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgembed TO %I', role_name);
  EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON pgembed.migrations, pgembed.models, pgembed.pipelines, pgembed.settings FROM %I', role_name);
  EXECUTE format('GRANT UPDATE (status, status_message) ON pgembed.pipelines TO %I', role_name);
  EXECUTE format('GRANT SELECT ON pgembed.queue_status TO %I', role_name);
  EXECUTE format('GRANT EXECUTE ON FUNCTION pgembed.prune_errors() TO %I', role_name);
  EXECUTE format('GRANT EXECUTE ON FUNCTION pgembed._create_indexes(text) TO %I', role_name);
  FOR p IN SELECT * FROM pgembed.pipelines LOOP
    PERFORM pgembed._grant_pipeline(p.name, role_name);
  END LOOP;
END
$$;

CREATE FUNCTION pgembed._grant_pipeline(pipeline_name text, role_name name DEFAULT 'pgembed_worker') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
    RETURN;
  END IF;
  SELECT * INTO p FROM pgembed.pipelines WHERE name = pipeline_name;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I',
                 (SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE c.oid = p.source_table), role_name);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I',
                 (SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE c.oid = p.chunk_table), role_name);
  EXECUTE format('GRANT SELECT ON %s TO %I', p.source_table, role_name);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', p.chunk_table, role_name);
END
$$;
