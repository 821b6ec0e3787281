-- The local model's int8 weights as a model of their own, and the default for new local pipelines
-- (bench/retrieval and bench/providers, docs/search.md: no retrieval loss, 2.2× the embeddings per
-- CPU-second). A pipeline stores its model and every chunk the model that embedded it, so pipelines
-- declared before this migration keep 'all-MiniLM-L6-v2' (fp32) and never receive int8 vectors.
INSERT INTO pgembed.models (provider, model, dimensions, max_input_tokens, flexible_dimensions) VALUES
  ('local', 'all-MiniLM-L6-v2-int8', 384, 254, false)
ON CONFLICT (provider, model) DO NOTHING;

-- Restated from 0005 with the local default changed; like 0005's it is a plain function (no SECURITY
-- DEFINER, no search_path of its own, no grants beyond PUBLIC's EXECUTE).
CREATE OR REPLACE FUNCTION pgembed._default_model(provider text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF provider = 'anthropic' THEN
    RAISE EXCEPTION 'pgembed: Anthropic has no embeddings API; Anthropic recommends Voyage AI for embeddings'
      USING HINT = 'use provider => ''voyage'' (model ''voyage-3.5'', or ''voyage-code-3'' for code) with a key from https://dash.voyageai.com exported in the worker''s environment, e.g. api_key_env => ''VOYAGE_API_KEY''';
  END IF;
  IF provider IS NOT NULL AND NOT provider = ANY (ARRAY['local', 'hash', 'openai', 'azure-openai', 'ollama', 'voyage', 'cohere']) THEN
    RAISE EXCEPTION 'pgembed: unknown provider "%"', provider
      USING HINT = 'available: local, openai, azure-openai, ollama, voyage, cohere, hash (tests only)';
  END IF;
  RETURN CASE provider
    WHEN 'local' THEN 'all-MiniLM-L6-v2-int8'
    WHEN 'hash' THEN 'hash-v1'
    WHEN 'openai' THEN 'text-embedding-3-small'
    -- Azure routes by deployment name; deployments are usually named after their model.
    WHEN 'azure-openai' THEN 'text-embedding-3-small'
    WHEN 'ollama' THEN 'nomic-embed-text'
    WHEN 'voyage' THEN 'voyage-3.5'
    WHEN 'cohere' THEN 'embed-v4.0'
  END;
END
$$;

-- Chunking defaults of a pipeline declared with nothing but table and column, chosen on the dev half
-- of bench/retrieval and confirmed on its held-out half (docs/search.md): structure-aware (markdown,
-- whose context puts the page title and heading path ahead of every chunk for the embedder; on text
-- without Markdown it cuts at paragraphs and sentences) and, for the local model, chunks of 96 word
-- pieces with 16 of overlap, well under its 254-piece window. Per-model defaults live with the model;
-- models without them keep 400 tokens (or their window when smaller) and an overlap of 50.
ALTER TABLE pgembed.models
  ADD COLUMN default_chunk_size int,
  ADD COLUMN default_chunk_overlap int,
  ADD CONSTRAINT models_default_chunking CHECK (
    default_chunk_size BETWEEN 1 AND max_input_tokens
    AND default_chunk_overlap >= 0 AND default_chunk_overlap < default_chunk_size);
UPDATE pgembed.models SET default_chunk_size = 96, default_chunk_overlap = 16 WHERE provider = 'local';

-- Restated from 0002 with those defaults: chunk_strategy 'markdown' (was 'token'), chunk_size from the
-- model's row, chunk_overlap NULL meaning the default above (was 50); and with 0013's deferral of the
-- indexes by expected chunks (defer_index_rows NULL: the defer_index_chunks setting). Like 0002's, the function is not SECURITY DEFINER, has no search_path of its own and no grants
-- beyond PUBLIC's EXECUTE (0006 and 0011 set those on pgembed._create_indexes only), so CREATE OR
-- REPLACE loses nothing.
CREATE OR REPLACE FUNCTION pgembed.enable_document_chunking(
  document_table regclass,
  content_column name,
  chunk_strategy text DEFAULT 'markdown',
  chunk_size int DEFAULT NULL,
  chunk_overlap int DEFAULT NULL,
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
  v_size := coalesce(chunk_size, known.default_chunk_size, least(400, max_tokens));
  IF v_size < 1 THEN
    RAISE EXCEPTION 'pgembed: chunk_size must be at least 1 token (got %)', v_size;
  END IF;
  IF v_size > max_tokens THEN
    RAISE EXCEPTION 'pgembed: chunk_size % exceeds the % tokens model "%" reads', v_size, max_tokens, v_model
      USING HINT = format('the model would silently ignore the rest; use chunk_size => %s or less', max_tokens);
  END IF;
  -- A sixth of the chunk (at most the model's default, else 50), so any chunk_size has a valid default.
  chunk_overlap := coalesce(chunk_overlap, least(coalesce(known.default_chunk_overlap, 50), v_size / 6));
  IF chunk_overlap < 0 OR chunk_overlap >= v_size THEN
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
