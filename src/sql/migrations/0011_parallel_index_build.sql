-- Deferred index builds use all the parallel workers allowed. A backfill written without indexes gets
-- its HNSW index built in one go (_create_indexes, called by a worker once the queue drains), and
-- PostgreSQL sizes a parallel build by the table's heap, which is small for a chunk table: the vectors
-- live in its TOAST table. Below ~8 MB of heap (~8,000 chunks here) it chose no worker at all. For the
-- build, the table's parallel_workers is set to max_parallel_maintenance_workers (unless its owner set
-- one), then reset. Measured on 2 cores (docs/performance.md): 4,000 chunks of 768 dimensions built in
-- 1.7 s instead of 2.7 s.
CREATE OR REPLACE FUNCTION pgembed._create_indexes(pipeline_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
  workers int := current_setting('max_parallel_maintenance_workers')::int;
  own_setting boolean;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines WHERE name = pipeline_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name;
  END IF;
  IF p.index_type = 'hnsw' THEN
    SELECT EXISTS (SELECT 1 FROM pg_class c, pg_options_to_table(c.reloptions) o
                   WHERE c.oid = p.chunk_table AND o.option_name = 'parallel_workers')
    INTO own_setting;
    IF workers > 0 AND NOT own_setting THEN
      EXECUTE format('ALTER TABLE %s SET (parallel_workers = %s)', p.chunk_table, workers);
    END IF;
    IF p.dimensions <= 2000 THEN
      EXECUTE format('CREATE INDEX ON %s USING hnsw (embedding vector_cosine_ops)', p.chunk_table);
    ELSE
      EXECUTE format('CREATE INDEX ON %s USING hnsw ((embedding::halfvec(%s)) halfvec_cosine_ops)',
                     p.chunk_table, p.dimensions);
    END IF;
    IF workers > 0 AND NOT own_setting THEN
      EXECUTE format('ALTER TABLE %s RESET (parallel_workers)', p.chunk_table);
    END IF;
  END IF;
  EXECUTE format('CREATE INDEX ON %s USING gin (to_tsvector(%L::regconfig, content))',
                 p.chunk_table, p.text_search_config::text);
  UPDATE pgembed.pipelines SET index_state = 'live' WHERE name = pipeline_name;
END
$$;

-- CREATE OR REPLACE reset what 0006 set: the build runs in a worker, which need not own the chunk
-- table, and its search_path holds pgvector's schema, for the operator classes.
DO $$
BEGIN
  EXECUTE format(
    'ALTER FUNCTION pgembed._create_indexes(text) SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
    (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'));
END
$$;
