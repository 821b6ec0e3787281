-- Backfills defer their indexes by the chunks they are expected to write, not by their documents.
-- Inserting each chunk into a live HNSW index is what bounds a backfill; a table of 400 long
-- Markdown documents (2,290 chunks) stayed below the old 10,000-document threshold and was written
-- at the live-insert rate. With the build sized to its graph (below), deferring and building once
-- measured as fast as live inserts at 20–100 chunks and faster from 200 on (2× at 400, 3× at 1,000:
-- bench/ingest-hnsw.ts, docs/performance.md), so backfills of 100 expected chunks or more defer by
-- default; smaller ones keep their indexes live from the start (no window without them, for the
-- same time). The threshold is kept in pgembed.settings for operators. defer_index_rows, when
-- given, is now compared with the expected chunk rows (its default, NULL, means the setting).
-- enable_document_chunking and enable_hierarchical_chunking had no properties beyond their text
-- (no SECURITY DEFINER, SET or revoked grant; CREATE OR REPLACE keeps owner and ACL).

INSERT INTO pgembed.settings (name, value, description) VALUES
  ('defer_index_chunks', '100',
   'a backfill expected to write at least this many chunks is written without the vector and full-text indexes, which are built once it drains (enable_document_chunking''s defer_index_rows overrides it)');

-- The default threshold, read where enable decides (a bad value names the setting instead of failing
-- with a bare cast error).
CREATE FUNCTION pgembed._defer_index_chunks() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  raw text := (SELECT value FROM pgembed.settings WHERE name = 'defer_index_chunks');
BEGIN
  IF raw IS NULL THEN
    RETURN 100;
  END IF;
  IF raw !~ '^\s*\d+\s*$' THEN
    RAISE EXCEPTION 'pgembed: setting defer_index_chunks must be a whole number of chunks (got "%")', raw
      USING HINT = 'UPDATE pgembed.settings SET value = ''100'' WHERE name = ''defer_index_chunks''';
  END IF;
  RETURN raw::bigint;
END
$$;

-- Chunks a document of `bytes` UTF-8 bytes is expected to become at chunk_size/chunk_overlap tokens:
-- 4 bytes per token (cl100k_base on the PostgreSQL manual as Markdown: 4.05 measured), windows
-- advancing by chunk_size - chunk_overlap, at least one chunk. Structure-aware strategies cut some
-- chunks short, so real counts run higher: an estimate for a threshold, not a count. SQL and
-- IMMUTABLE so it is inlined into the scan that sums it.
CREATE FUNCTION pgembed._expected_chunks(bytes bigint, chunk_size int, chunk_overlap int) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(1, ceil((bytes / 4.0 - chunk_overlap) / greatest(1, chunk_size - chunk_overlap)))::bigint
$$;

-- enable_document_chunking's own restatement with the deferral by expected chunks is in 0014, with
-- that migration's defaults.

-- Passes defer_index_rows through; its default follows enable_document_chunking's (NULL: the setting).
CREATE OR REPLACE FUNCTION pgembed.enable_hierarchical_chunking(
  document_table regclass,
  content_column name,
  levels jsonb DEFAULT '[{"strategy": "markdown", "chunk_size": 2000, "chunk_overlap": 0},
                         {"strategy": "semantic", "chunk_size": 400, "chunk_overlap": 50}]',
  chunk_table_name text DEFAULT NULL,
  provider text DEFAULT NULL,
  model text DEFAULT NULL,
  dimensions int DEFAULT NULL,
  pipeline_name text DEFAULT NULL,
  api_key_env text DEFAULT NULL,
  base_url text DEFAULT NULL,
  index_type text DEFAULT 'hnsw',
  text_search_config regconfig DEFAULT 'english',
  defer_index_rows bigint DEFAULT NULL,
  max_attempts int DEFAULT 6,
  backfill boolean DEFAULT true,
  chunk_options jsonb DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  v_levels jsonb;
  max_tokens int;
  child_size int;
BEGIN
  IF chunk_options ? 'levels' THEN
    RAISE EXCEPTION 'pgembed: pass the levels as levels => …, not inside chunk_options';
  END IF;
  v_levels := pgembed._chunk_levels(levels);
  child_size := (v_levels->1->>'chunk_size')::int;
  -- The chunks are what the model reads: their size is bounded by the model's input, the sections' is not.
  SELECT m.max_input_tokens INTO max_tokens FROM pgembed.models m
  WHERE m.provider = coalesce(provider, 'local') AND m.model = coalesce(model, pgembed._default_model(coalesce(provider, 'local')));
  IF max_tokens IS NOT NULL AND child_size > max_tokens THEN
    RAISE EXCEPTION 'pgembed: the chunks'' chunk_size % exceeds the % tokens model "%" reads', child_size, max_tokens,
      coalesce(model, pgembed._default_model(coalesce(provider, 'local')))
      USING HINT = format('the model would silently ignore the rest; use a chunk_size of %s or less for the second level', max_tokens);
  END IF;
  RETURN pgembed.enable_document_chunking(
    document_table, content_column,
    chunk_strategy => 'hierarchical',
    chunk_size => child_size,
    chunk_overlap => (v_levels->1->>'chunk_overlap')::int,
    chunk_table_name => chunk_table_name,
    provider => provider,
    model => model,
    dimensions => dimensions,
    pipeline_name => pipeline_name,
    api_key_env => api_key_env,
    base_url => base_url,
    index_type => index_type,
    text_search_config => text_search_config,
    defer_index_rows => defer_index_rows,
    max_attempts => max_attempts,
    backfill => backfill,
    chunk_options => coalesce(chunk_options, '{}') || jsonb_build_object('levels', v_levels));
END
$$;

-- The deferred HNSW build sizes maintenance_work_mem to the graph it builds. pgvector's parallel
-- build allocates all of maintenance_work_mem as one shared segment up front, and the 512 MB the
-- worker used to set cost ~1 s before the first vector (50 vectors of 768 dimensions: 1.0 s at
-- 512 MB, 53 ms at 16 MB; 1,000: 1.43 s against 0.64 s), which made deferring slower than live
-- inserts for small backfills. A parallel build holds ~2 × (vector bytes + 800) per element
-- (pgvector's "graph no longer fits" notice: 7.5 kB at 768 dimensions, 13.6 kB at 1,536); a graph
-- that does not fit is built on disk, several times slower, so the estimate gets a quarter more and
-- 8 MB, at least 16 MB, at most 512 MB or the server's own setting when that is higher. Otherwise
-- as in 0011, and the full-text index on 0012's stored content_tsv (on the expression only for a chunk
-- table without the column, which 0012 leaves none of).
CREATE OR REPLACE FUNCTION pgembed._create_indexes(pipeline_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
  workers int := current_setting('max_parallel_maintenance_workers')::int;
  own_setting boolean;
  chunks bigint;
  element_bytes bigint;
  memory_kb bigint;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines WHERE name = pipeline_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name;
  END IF;
  IF p.index_type = 'hnsw' THEN
    EXECUTE format('SELECT count(*) FROM %s', p.chunk_table) INTO chunks;
    element_bytes := 2 * ((CASE WHEN p.dimensions <= 2000 THEN 4 ELSE 2 END) * p.dimensions + 800);
    memory_kb := least(greatest(8192 + chunks * element_bytes * 5 / 4 / 1024, 16384),
                       greatest(524288, pg_size_bytes(current_setting('maintenance_work_mem')) / 1024));
    PERFORM set_config('maintenance_work_mem', memory_kb || 'kB', true);
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
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p.chunk_table AND attname = 'content_tsv' AND NOT attisdropped) THEN
    EXECUTE format('CREATE INDEX ON %s USING gin (content_tsv)', p.chunk_table);
  ELSE
    EXECUTE format('CREATE INDEX ON %s USING gin (to_tsvector(%L::regconfig, content))',
                   p.chunk_table, p.text_search_config::text);
  END IF;
  UPDATE pgembed.pipelines SET index_state = 'live' WHERE name = pipeline_name;
END
$$;

-- CREATE OR REPLACE reset what 0006 and 0011 set: the build runs in a worker, which need not own the
-- chunk table, and its search_path holds pgvector's schema, for the operator classes. Its grants
-- (none to PUBLIC, EXECUTE to the worker role) survive a replace; revoked again all the same.
DO $$
BEGIN
  EXECUTE format(
    'ALTER FUNCTION pgembed._create_indexes(text) SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
    (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'));
END
$$;
REVOKE EXECUTE ON FUNCTION pgembed._create_indexes(text) FROM PUBLIC;
