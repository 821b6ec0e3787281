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

CREATE OR REPLACE FUNCTION pgembed.enable_document_chunking(
  document_table regclass,
  content_column name,
  chunk_strategy text DEFAULT 'token',
  chunk_size int DEFAULT NULL,
  chunk_overlap int DEFAULT 50,
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
  src_schema name;
  src_name name;
  src_kind "char";
  col_category "char";
  keys name[];
  key_types text[];
  chunk_parts text[];
  chunk_schema name;
  chunk_name name;
  chunk_regclass regclass;
  sections_name name;
  known pgembed.models;
  max_tokens int;
  v_model text;
  v_dims int;
  v_size int;
  v_name text;
  options jsonb := '{}';
  queued bigint := 0;
  expected bigint := 0;
  threshold bigint;
  deferring boolean;
  p pgembed.pipelines;
BEGIN
  SELECT n.nspname, c.relname, c.relkind INTO src_schema, src_name, src_kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = document_table;
  IF src_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'pgembed: % is not a table', document_table
      USING HINT = 'enable_document_chunking needs an ordinary or partitioned table; views and foreign tables cannot carry its triggers';
  END IF;

  SELECT t.typcategory INTO col_category
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
  WHERE a.attrelid = document_table AND a.attname = content_column AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: table % has no column "%"', document_table, content_column
      USING HINT = 'its columns are: ' || (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
                                          FROM pg_attribute WHERE attrelid = document_table AND attnum > 0 AND NOT attisdropped);
  END IF;
  IF col_category <> 'S' THEN
    RAISE EXCEPTION 'pgembed: column "%" of % is not a text column', content_column, document_table
      USING HINT = 'content_column must be of type text, varchar or char';
  END IF;

  SELECT array_agg(a.attname ORDER BY k.i), array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.i)
  INTO keys, key_types
  FROM pg_index x
  CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, i)
  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
  WHERE x.indrelid = document_table AND x.indisprimary;
  IF keys IS NULL THEN
    RAISE EXCEPTION 'pgembed: table % has no primary key', document_table
      USING HINT = format('chunks are linked to documents by primary key; add one, e.g. ALTER TABLE %s ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY', document_table);
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(keys) c WHERE octet_length('doc_' || c) > 63) THEN
    RAISE EXCEPTION 'pgembed: a primary-key column name of % is too long to be prefixed with doc_ in the chunk table', document_table
      USING HINT = 'rename the column to at most 59 bytes';
  END IF;

  IF chunk_strategy = 'hierarchical' THEN
    IF NOT coalesce(chunk_options ? 'levels', false) THEN
      RAISE EXCEPTION 'pgembed: chunk_strategy "hierarchical" needs levels'
        USING HINT = 'use pgembed.enable_hierarchical_chunking(table, column, levels)';
    END IF;
  ELSIF chunk_strategy IS NULL OR NOT chunk_strategy = ANY (pgembed._chunk_strategies()) THEN
    RAISE EXCEPTION 'pgembed: unknown chunk_strategy "%"', chunk_strategy
      USING HINT = 'available: ' || array_to_string(pgembed._chunk_strategies(), ', ');
  ELSIF chunk_options ? 'levels' THEN
    RAISE EXCEPTION 'pgembed: chunk option levels belongs to hierarchical chunking'
      USING HINT = 'use pgembed.enable_hierarchical_chunking(table, column, levels)';
  END IF;
  chunk_options := pgembed._chunk_options(document_table, chunk_options);

  provider := coalesce(provider, 'local');
  v_model := coalesce(model, pgembed._default_model(provider));
  IF v_model IS NULL THEN
    RAISE EXCEPTION 'pgembed: unknown provider "%"', provider
      USING HINT = 'available: local, hash, openai';
  END IF;
  SELECT * INTO known FROM pgembed.models m WHERE m.provider = provider AND m.model = v_model;
  v_dims := coalesce(dimensions, known.dimensions);
  IF v_dims IS NULL THEN
    RAISE EXCEPTION 'pgembed: the dimensions of model "%" (provider %) are not known', v_model, provider
      USING HINT = 'pass dimensions => N, or run `pgembed enable`, which asks the provider';
  END IF;
  IF v_dims < 1 OR v_dims > 16000 THEN
    RAISE EXCEPTION 'pgembed: dimensions must be between 1 and 16000 (got %)', v_dims;
  END IF;
  IF known.model IS NOT NULL AND v_dims <> known.dimensions
     AND NOT (known.flexible_dimensions AND v_dims < known.dimensions) THEN
    RAISE EXCEPTION 'pgembed: model "%" produces % dimensions, not %', v_model, known.dimensions, v_dims
      USING HINT = 'leave dimensions out to use the model''s own';
  END IF;

  max_tokens := coalesce(known.max_input_tokens, 8192);
  v_size := coalesce(chunk_size, least(400, max_tokens));
  IF v_size < 1 THEN
    RAISE EXCEPTION 'pgembed: chunk_size must be at least 1 token (got %)', v_size;
  END IF;
  IF v_size > max_tokens THEN
    RAISE EXCEPTION 'pgembed: chunk_size % exceeds the % tokens model "%" reads', v_size, max_tokens, v_model
      USING HINT = format('the model would silently ignore the rest; use chunk_size => %s or less', max_tokens);
  END IF;
  IF chunk_overlap IS NULL OR chunk_overlap < 0 OR chunk_overlap >= v_size THEN
    RAISE EXCEPTION 'pgembed: chunk_overlap must be between 0 and chunk_size - 1 = % (got %)', v_size - 1, chunk_overlap;
  END IF;

  IF api_key_env IS NOT NULL THEN
    IF api_key_env !~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN
      RAISE EXCEPTION 'pgembed: api_key_env must be the NAME of an environment variable (letters, digits, _)'
        USING HINT = 'keys are never stored in the database: export the key in the worker''s environment and pass its variable name, e.g. api_key_env => ''OPENAI_API_KEY''';
    END IF;
    options := options || jsonb_build_object('api_key_env', api_key_env);
  END IF;
  IF base_url IS NOT NULL THEN
    IF base_url !~ '^https?://' THEN
      RAISE EXCEPTION 'pgembed: base_url must start with http:// or https:// (got "%")', base_url;
    END IF;
    options := options || jsonb_build_object('base_url', base_url);
  END IF;
  IF index_type IS NULL OR index_type NOT IN ('hnsw', 'none') THEN
    RAISE EXCEPTION 'pgembed: index_type must be hnsw or none (got "%")', index_type;
  END IF;
  IF max_attempts IS NULL OR max_attempts < 1 OR max_attempts > 100 THEN
    RAISE EXCEPTION 'pgembed: max_attempts must be between 1 and 100 (got %)', max_attempts;
  END IF;

  v_name := coalesce(pipeline_name, src_name);
  IF EXISTS (SELECT 1 FROM pgembed.pipelines WHERE name = v_name) THEN
    RAISE EXCEPTION 'pgembed: a pipeline named "%" already exists', v_name
      USING HINT = 'pass pipeline_name => ''…'' for a second pipeline on this table, or drop the old one with pgembed.drop_pipeline(''' || v_name || ''')';
  END IF;

  chunk_parts := parse_ident(coalesce(chunk_table_name, quote_ident(src_name || '_chunks')));
  IF array_length(chunk_parts, 1) = 1 THEN
    chunk_schema := src_schema;
    chunk_name := chunk_parts[1];
  ELSIF array_length(chunk_parts, 1) = 2 THEN
    chunk_schema := chunk_parts[1];
    chunk_name := chunk_parts[2];
  ELSE
    RAISE EXCEPTION 'pgembed: chunk_table_name must be "table" or "schema.table" (got "%")', chunk_table_name;
  END IF;
  IF to_regclass(format('%I.%I', chunk_schema, chunk_name)) IS NOT NULL THEN
    RAISE EXCEPTION 'pgembed: table %.% already exists', quote_ident(chunk_schema), quote_ident(chunk_name)
      USING HINT = 'pass chunk_table_name => ''…'' to name another chunk table';
  END IF;

  EXECUTE format(
    'CREATE TABLE %I.%I (
       id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       %s,
       chunk_index int NOT NULL,
       content text NOT NULL,
       token_count int NOT NULL,
       start_char int NOT NULL,
       end_char int NOT NULL,
       heading_path text[],
       context text,
       parent_index int,
       embedding vector(%s) NOT NULL,
       model text NOT NULL,
       content_hash text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now(),
       metadata jsonb NOT NULL DEFAULT ''{}'',
       UNIQUE (%s, chunk_index)
     )',
    chunk_schema, chunk_name,
    (SELECT string_agg(format('%I %s NOT NULL', 'doc_' || c, t), ', ' ORDER BY i)
       FROM unnest(keys, key_types) WITH ORDINALITY AS k(c, t, i)),
    v_dims,
    (SELECT string_agg(format('%I', 'doc_' || c), ', ' ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS k(c, i)));
  chunk_regclass := format('%I.%I', chunk_schema, chunk_name)::regclass;

  -- Hierarchical chunking keeps the parent sections (not embedded) next to the chunks:
  -- <table>_sections, linked to chunks by (document key, section_index = chunk.parent_index).
  IF chunk_strategy = 'hierarchical' THEN
    sections_name := CASE WHEN chunk_name LIKE '%\_chunks' THEN left(chunk_name, -7) ELSE chunk_name END || '_sections';
    IF to_regclass(format('%I.%I', chunk_schema, sections_name)) IS NOT NULL THEN
      RAISE EXCEPTION 'pgembed: table %.% already exists', quote_ident(chunk_schema), quote_ident(sections_name)
        USING HINT = 'pass chunk_table_name => ''…'' to name the chunk table (the sections table is named after it)';
    END IF;
    EXECUTE format(
      'CREATE TABLE %I.%I (
         id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         %s,
         section_index int NOT NULL,
         content text NOT NULL,
         token_count int NOT NULL,
         start_char int NOT NULL,
         end_char int NOT NULL,
         heading_path text[],
         context text,
         created_at timestamptz NOT NULL DEFAULT now(),
         UNIQUE (%s, section_index)
       )',
      chunk_schema, sections_name,
      (SELECT string_agg(format('%I %s NOT NULL', 'doc_' || c, t), ', ' ORDER BY i)
         FROM unnest(keys, key_types) WITH ORDINALITY AS k(c, t, i)),
      (SELECT string_agg(format('%I', 'doc_' || c), ', ' ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS k(c, i)));
    chunk_options := chunk_options || jsonb_build_object('sections_table', format('%I.%I', chunk_schema, sections_name));
  END IF;

  INSERT INTO pgembed.pipelines (
    name, source_table, content_column, key_columns, key_types, chunk_table, chunk_strategy,
    chunk_size, chunk_overlap, chunk_options, provider, model, dimensions, provider_options, index_type,
    index_state, text_search_config, max_attempts)
  VALUES (
    v_name, document_table, content_column, keys, key_types, chunk_regclass, chunk_strategy,
    v_size, chunk_overlap, chunk_options, provider, v_model, v_dims, options, index_type,
    'deferred', text_search_config, max_attempts)
  RETURNING * INTO p;
  INSERT INTO pgembed.wakeups (pipeline, armed) VALUES (v_name, true);

  PERFORM pgembed._create_triggers(v_name);

  IF backfill THEN
    EXECUTE format(
      'INSERT INTO pgembed.queue (pipeline, doc_key) SELECT %L, %s FROM %s s WHERE s.%I IS NOT NULL
       ON CONFLICT (pipeline, doc_key) WHERE status = ''pending'' DO NOTHING',
      v_name, pgembed._key_expr(keys, 's'), document_table, content_column);
    GET DIAGNOSTICS queued = ROW_COUNT;
    -- octet_length reads a TOASTed value's size from its pointer: this pass does not detoast.
    EXECUTE format(
      'SELECT coalesce(sum(pgembed._expected_chunks(octet_length(s.%I), $1, $2)), 0)::bigint FROM %s s WHERE s.%I IS NOT NULL',
      content_column, document_table, content_column)
    INTO expected USING v_size, chunk_overlap;
  END IF;

  -- Inserting into a live HNSW index is what bounds a backfill, so past a measured size (in chunks,
  -- which is what the index holds: a few long documents can be thousands) the indexes are built
  -- once the backlog has drained instead (by the worker that finds the queue empty).
  threshold := coalesce(defer_index_rows, pgembed._defer_index_chunks());
  deferring := greatest(queued, expected) >= threshold;
  IF NOT deferring THEN
    PERFORM pgembed._create_indexes(v_name);
  END IF;

  -- The least-privilege worker role (0006), when it exists, may read and write this pipeline.
  PERFORM pgembed._grant_pipeline(v_name);
  PERFORM pg_notify('pgembed_wake', v_name);

  RETURN jsonb_build_object(
    'pipeline', v_name,
    'chunk_table', chunk_regclass::text,
    'provider', provider,
    'model', v_model,
    'dimensions', v_dims,
    'chunk_strategy', chunk_strategy,
    'chunk_size', v_size,
    'chunk_overlap', chunk_overlap,
    'chunk_options', chunk_options,
    'queued', queued,
    'expected_chunks', expected,
    'index_state', CASE WHEN deferring THEN 'deferred' ELSE 'live' END);
END
$$;

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
-- as in 0012 (the full-text index on the stored content_tsv).
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
