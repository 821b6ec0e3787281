-- Pipeline management: enable_document_chunking and friends. Plain PL/pgSQL, no extension beyond
-- pgvector. Every identifier that reaches dynamic SQL goes through format('%I') or a regclass.

-- Chunking strategies this version of the worker implements (src/chunking/index.ts STRATEGIES).
CREATE FUNCTION pgembed._chunk_strategies() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['token', 'sentence', 'semantic', 'markdown', 'recursive'] $$;

-- Validates per-pipeline strategy options and returns them normalized. Known keys:
--   context (boolean): title and heading path ahead of each chunk for the embedder; default true for
--     markdown, false otherwise;
--   heading_separator (text): between headings in that context, default ' > ';
--   locale (text): BCP 47 locale for sentence segmentation;
--   title_column (name): a text column of the source table holding the document's title.
CREATE FUNCTION pgembed._chunk_options(document_table regclass, options jsonb, internal boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
  out jsonb := coalesce(options, '{}');
  col_category "char";
BEGIN
  IF jsonb_typeof(out) <> 'object' THEN
    RAISE EXCEPTION 'pgembed: chunk_options must be a JSON object (got %)', out
      USING HINT = 'e.g. chunk_options => ''{"context": true, "locale": "de"}''';
  END IF;
  FOR k IN SELECT jsonb_object_keys(out) LOOP
    IF k NOT IN ('context', 'heading_separator', 'locale', 'title_column', 'levels')
       AND NOT (k = 'sections_table' AND internal) THEN
      RAISE EXCEPTION 'pgembed: unknown chunk option "%"', k
        USING HINT = 'known options: context, heading_separator, locale, title_column';
    END IF;
  END LOOP;
  IF out ? 'levels' THEN
    out := jsonb_set(out, '{levels}', pgembed._chunk_levels(out->'levels'));
  END IF;
  IF out ? 'context' AND jsonb_typeof(out->'context') <> 'boolean' THEN
    RAISE EXCEPTION 'pgembed: chunk option context must be true or false (got %)', out->'context';
  END IF;
  IF out ? 'heading_separator' AND jsonb_typeof(out->'heading_separator') <> 'string' THEN
    RAISE EXCEPTION 'pgembed: chunk option heading_separator must be a string (got %)', out->'heading_separator';
  END IF;
  IF out ? 'locale' AND (jsonb_typeof(out->'locale') <> 'string' OR out->>'locale' !~ '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$') THEN
    RAISE EXCEPTION 'pgembed: chunk option locale must be a BCP 47 language tag such as "en" or "de-CH" (got %)', out->'locale';
  END IF;
  IF out ? 'title_column' THEN
    SELECT t.typcategory INTO col_category
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = document_table AND a.attname = out->>'title_column' AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'pgembed: title_column "%" is not a column of %', out->>'title_column', document_table;
    END IF;
    IF col_category <> 'S' THEN
      RAISE EXCEPTION 'pgembed: title_column "%" of % is not a text column', out->>'title_column', document_table;
    END IF;
  END IF;
  RETURN out;
END
$$;

-- Validates the levels of hierarchical chunking and returns them with defaults filled in:
-- [{strategy, chunk_size, chunk_overlap}, {…}], sections first, then the chunks cut from them.
CREATE FUNCTION pgembed._chunk_levels(levels jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  out jsonb := '[]';
  level jsonb;
  k text;
  v_strategy text;
  v_size int;
  v_overlap int;
  previous_size int;
BEGIN
  IF jsonb_typeof(levels) <> 'array' OR jsonb_array_length(levels) <> 2 THEN
    RAISE EXCEPTION 'pgembed: levels must be a JSON array of 2 levels, sections then chunks (got %)', levels
      USING HINT = 'e.g. ''[{"strategy": "markdown", "chunk_size": 2000}, {"strategy": "semantic", "chunk_size": 400, "chunk_overlap": 50}]''';
  END IF;
  FOR level IN SELECT value FROM jsonb_array_elements(levels) LOOP
    IF jsonb_typeof(level) <> 'object' THEN
      RAISE EXCEPTION 'pgembed: each level must be an object with strategy, chunk_size and chunk_overlap (got %)', level;
    END IF;
    FOR k IN SELECT jsonb_object_keys(level) LOOP
      IF k NOT IN ('strategy', 'chunk_size', 'chunk_overlap') THEN
        RAISE EXCEPTION 'pgembed: unknown key "%" in a level', k USING HINT = 'a level has strategy, chunk_size and chunk_overlap';
      END IF;
    END LOOP;
    v_strategy := level->>'strategy';
    IF v_strategy IS NULL OR NOT v_strategy = ANY (pgembed._chunk_strategies()) THEN
      RAISE EXCEPTION 'pgembed: unknown strategy "%" in levels', v_strategy
        USING HINT = 'available: ' || array_to_string(pgembed._chunk_strategies(), ', ');
    END IF;
    IF jsonb_typeof(level->'chunk_size') IS DISTINCT FROM 'number' OR (level->>'chunk_size')::numeric <> trunc((level->>'chunk_size')::numeric)
       OR (level->>'chunk_size')::numeric < 1 OR (level->>'chunk_size')::numeric > 1000000 THEN
      RAISE EXCEPTION 'pgembed: chunk_size of each level must be a whole number of tokens ≥ 1 (got %)', level->'chunk_size';
    END IF;
    v_size := (level->>'chunk_size')::int;
    IF level ? 'chunk_overlap' AND (jsonb_typeof(level->'chunk_overlap') <> 'number'
       OR (level->>'chunk_overlap')::numeric <> trunc((level->>'chunk_overlap')::numeric)) THEN
      RAISE EXCEPTION 'pgembed: chunk_overlap of each level must be a whole number of tokens (got %)', level->'chunk_overlap';
    END IF;
    v_overlap := coalesce((level->>'chunk_overlap')::int, 0);
    IF v_overlap < 0 OR v_overlap >= v_size THEN
      RAISE EXCEPTION 'pgembed: chunk_overlap of a level must be between 0 and its chunk_size - 1 = % (got %)', v_size - 1, v_overlap;
    END IF;
    IF previous_size IS NOT NULL AND v_size > previous_size THEN
      RAISE EXCEPTION 'pgembed: the chunks'' size (%) must not exceed the sections'' size (%)', v_size, previous_size;
    END IF;
    previous_size := v_size;
    out := out || jsonb_build_array(jsonb_build_object('strategy', v_strategy, 'chunk_size', v_size, 'chunk_overlap', v_overlap));
  END LOOP;
  RETURN out;
END
$$;

-- The expression whose change re-chunks a document: its content, and its title when a title column
-- feeds the chunks' context.
CREATE FUNCTION pgembed._changed_expr(p pgembed.pipelines, n text, o text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('%I.%I IS DISTINCT FROM %I.%I', n, p.content_column, o, p.content_column)
    || CASE WHEN p.chunk_options ? 'title_column'
            THEN format(' OR %I.%I IS DISTINCT FROM %I.%I', n, p.chunk_options->>'title_column', o, p.chunk_options->>'title_column')
            ELSE '' END
$$;

-- Providers this version of the worker implements, with their default model.
CREATE FUNCTION pgembed._default_model(provider text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE provider
    WHEN 'local' THEN 'all-MiniLM-L6-v2'
    WHEN 'hash' THEN 'hash-v1'
    WHEN 'openai' THEN 'text-embedding-3-small'
  END
$$;

-- jsonb_build_array(alias.k1, alias.k2, …): how a document key is written into the queue.
CREATE FUNCTION pgembed._key_expr(key_columns name[], alias text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'jsonb_build_array(' || string_agg(format('%I.%I', alias, c), ', ' ORDER BY i) || ')'
  FROM unnest(key_columns) WITH ORDINALITY AS t(c, i)
$$;

-- a.k1 = b.k1 AND a.k2 = b.k2 …
CREATE FUNCTION pgembed._key_join(key_columns name[], a text, b text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(format('%I.%I = %I.%I', a, c, b, c), ' AND ' ORDER BY i)
  FROM unnest(key_columns) WITH ORDINALITY AS t(c, i)
$$;

-- schema.table, both quoted: a regclass printed so it resolves under any search_path.
CREATE FUNCTION pgembed._qualified(rel regclass) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT format('%I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel
$$;

-- Creates the vector and full-text indexes of a pipeline's chunk table and marks them live.
-- Vectors beyond 2,000 dimensions (pgvector's HNSW limit for vector) are indexed as halfvec.
CREATE FUNCTION pgembed._create_indexes(pipeline_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines WHERE name = pipeline_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name;
  END IF;
  IF p.index_type = 'hnsw' THEN
    IF p.dimensions <= 2000 THEN
      EXECUTE format('CREATE INDEX ON %s USING hnsw (embedding vector_cosine_ops)', p.chunk_table);
    ELSE
      EXECUTE format('CREATE INDEX ON %s USING hnsw ((embedding::halfvec(%s)) halfvec_cosine_ops)',
                     p.chunk_table, p.dimensions);
    END IF;
  END IF;
  EXECUTE format('CREATE INDEX ON %s USING gin (to_tsvector(%L::regconfig, content))',
                 p.chunk_table, p.text_search_config::text);
  UPDATE pgembed.pipelines SET index_state = 'live' WHERE name = pipeline_name;
END
$$;

-- Creates the statement-level triggers that feed the queue. Generated per pipeline so each
-- trigger body is static SQL with a cached plan (the write-path benchmark measures this).
-- Roles that write the source table need no grants of their own, and their writes can never fail
-- for lack of them: the INSERT and UPDATE triggers (the hot path) run as the writer and only append
-- to pgembed.queue_log and read pgembed.wakeups, which every role may (0001); the DELETE and
-- TRUNCATE triggers, which touch the chunk table, run as the pipeline's owner (SECURITY DEFINER
-- with a fixed search_path). A definer on the hot path measured 5 points of write tax: PostgreSQL
-- saves and restores the search_path setting on every call.
CREATE FUNCTION pgembed._create_triggers(pipeline_name text) RETURNS void
LANGUAGE plpgsql AS $create$
DECLARE
  p pgembed.pipelines;
  fn text;
  notify text;
  enqueue text;
  key_match text;
  sections_delete text := '';
  sections_truncate text := '';
BEGIN
  SELECT * INTO p FROM pgembed.pipelines WHERE name = pipeline_name;
  fn := '_trigger_' || p.id;
  key_match := (SELECT string_agg(format('c.%I = o.%I', 'doc_' || c, c), ' AND ') FROM unnest(p.key_columns) c);
  -- Hierarchical pipelines keep their parent sections in a second table (its name was quoted by format('%I.%I')).
  IF p.chunk_options ? 'sections_table' THEN
    sections_delete := format('DELETE FROM %s c USING old_rows o WHERE %s;', p.chunk_options->>'sections_table', key_match);
    sections_truncate := format('DELETE FROM %s;', p.chunk_options->>'sections_table');
  END IF;
  notify := format(
    $f$IF FOUND THEN
        PERFORM pg_notify('pgembed_wake', w.pipeline) FROM pgembed.wakeups w WHERE w.pipeline = %1$L AND w.armed;
      END IF;$f$, p.name);
  -- Triggers only append to pgembed.queue_log (see 0001): workers deduplicate when they move it.
  enqueue := 'INSERT INTO pgembed.queue_log (pipeline, doc_key) ';

  EXECUTE format(
    $f$CREATE FUNCTION pgembed.%1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
      %2$s SELECT %3$L, %4$s FROM new_rows n WHERE n.%5$I IS NOT NULL;
      %6$s
      RETURN NULL;
    END $body$$f$,
    fn || '_insert', enqueue, p.name, pgembed._key_expr(p.key_columns, 'n'), p.content_column, notify);

  -- Changed content, and keys that appeared or vanished (an UPDATE of the primary key).
  EXECUTE format(
    $f$CREATE FUNCTION pgembed.%1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
      %2$s SELECT %3$L, k FROM (
        SELECT %4$s AS k FROM new_rows n LEFT JOIN old_rows o ON %6$s
        WHERE o.%7$I IS NULL OR %8$s
        UNION ALL
        SELECT %5$s FROM old_rows o LEFT JOIN new_rows n ON %6$s
        WHERE n.%7$I IS NULL
      ) changed;
      %9$s
      RETURN NULL;
    END $body$$f$,
    fn || '_update', enqueue, p.name, pgembed._key_expr(p.key_columns, 'n'), pgembed._key_expr(p.key_columns, 'o'),
    pgembed._key_join(p.key_columns, 'o', 'n'), p.key_columns[1], pgembed._changed_expr(p, 'n', 'o'), notify);

  -- Chunks of deleted documents disappear with the delete. A job is queued as well: a worker
  -- writing that document concurrently re-checks under its lock, and this job removes anything
  -- such a write could have left behind.
  EXECUTE format(
    $f$CREATE FUNCTION pgembed.%1$I() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
    BEGIN
      DELETE FROM %2$s c USING old_rows o WHERE %3$s;
      %7$s
      %4$s SELECT %5$L, %6$s FROM old_rows o;
      RETURN NULL;
    END $body$$f$,
    fn || '_delete', pgembed._qualified(p.chunk_table), key_match,
    enqueue, p.name, pgembed._key_expr(p.key_columns, 'o'), sections_delete);

  EXECUTE format(
    $f$CREATE FUNCTION pgembed.%1$I() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
    BEGIN
      DELETE FROM %2$s;
      %4$s
      DELETE FROM pgembed.queue WHERE pipeline = %3$L;
      DELETE FROM pgembed.queue_log WHERE pipeline = %3$L;
      RETURN NULL;
    END $body$$f$,
    fn || '_truncate', pgembed._qualified(p.chunk_table), p.name, sections_truncate);

  EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION pgembed.%I()', 'pgembed_' || p.id || '_insert', p.source_table, fn || '_insert');
  EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION pgembed.%I()', 'pgembed_' || p.id || '_update', p.source_table, fn || '_update');
  EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION pgembed.%I()', 'pgembed_' || p.id || '_delete', p.source_table, fn || '_delete');
  EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION pgembed.%I()', 'pgembed_' || p.id || '_truncate', p.source_table, fn || '_truncate');
END
$create$;

CREATE FUNCTION pgembed._drop_triggers(p pgembed.pipelines) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  op text;
BEGIN
  FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
    IF to_regclass(p.source_table::text) IS NOT NULL THEN
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'pgembed_' || p.id || '_' || op, p.source_table);
    END IF;
    EXECUTE format('DROP FUNCTION IF EXISTS pgembed.%I()', '_trigger_' || p.id || '_' || op);
  END LOOP;
END
$$;

CREATE FUNCTION pgembed.enable_document_chunking(
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
  defer_index_rows bigint DEFAULT 10000,
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
  END IF;

  -- Inserting into a live HNSW index is what bounds a large backfill, so it is built once the
  -- backlog has drained instead (by the worker that finds the queue empty).
  IF queued < defer_index_rows THEN
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
    'index_state', CASE WHEN queued < defer_index_rows THEN 'live' ELSE 'deferred' END);
END
$$;

-- Stops keeping a table's pipelines up to date: drops their triggers and pending jobs, keeps the
-- chunks. Returns the number of pipelines disabled.
CREATE FUNCTION pgembed.disable_async(target_table regclass) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
  n int := 0;
BEGIN
  FOR p IN SELECT * FROM pgembed.pipelines WHERE source_table = target_table AND status <> 'disabled' LOOP
    PERFORM pgembed._drop_triggers(p);
    DELETE FROM pgembed.queue WHERE pipeline = p.name AND status <> 'failed';
    DELETE FROM pgembed.queue_log WHERE pipeline = p.name;
    UPDATE pgembed.pipelines SET status = 'disabled', status_message = 'disabled by disable_async()' WHERE name = p.name;
    n := n + 1;
  END LOOP;
  IF n = 0 THEN
    RAISE EXCEPTION 'pgembed: no enabled pipeline reads table %', target_table
      USING HINT = 'SELECT name, source_table, status FROM pgembed.pipelines lists the pipelines';
  END IF;
  RETURN n;
END
$$;

-- Removes a pipeline: its triggers, queue, and (when drop_chunks) its chunk table.
CREATE FUNCTION pgembed.drop_pipeline(name text, drop_chunks boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  p pgembed.pipelines;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', name
      USING HINT = 'SELECT name FROM pgembed.pipelines lists the pipelines';
  END IF;
  PERFORM pgembed._drop_triggers(p);
  DELETE FROM pgembed.queue q WHERE q.pipeline = p.name;
  DELETE FROM pgembed.queue_log l WHERE l.pipeline = p.name;
  DELETE FROM pgembed.wakeups w WHERE w.pipeline = p.name;
  DELETE FROM pgembed.pipelines x WHERE x.name = p.name;
  IF drop_chunks AND p.chunk_options ? 'sections_table' AND to_regclass(p.chunk_options->>'sections_table') IS NOT NULL THEN
    EXECUTE format('DROP TABLE %s', p.chunk_options->>'sections_table');
  END IF;
  IF drop_chunks AND to_regclass(p.chunk_table::text) IS NOT NULL THEN
    EXECUTE format('DROP TABLE %s', p.chunk_table);
  END IF;
END
$$;

-- Gives failed jobs another full set of attempts. Returns how many failed jobs were re-queued.
CREATE FUNCTION pgembed.retry_failed(pipeline_name text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  WITH failed AS (
    DELETE FROM pgembed.queue q
    WHERE q.status = 'failed' AND (pipeline_name IS NULL OR q.pipeline = pipeline_name)
    RETURNING q.pipeline, q.doc_key, q.created_at
  ), requeued AS (
    INSERT INTO pgembed.queue (pipeline, doc_key, created_at)
    SELECT f.pipeline, f.doc_key, f.created_at FROM failed f
    ON CONFLICT (pipeline, doc_key) WHERE status = 'pending' DO NOTHING
  )
  SELECT count(*) INTO n FROM failed;
  PERFORM pg_notify('pgembed_wake', p.name) FROM pgembed.pipelines p
  WHERE pipeline_name IS NULL OR p.name = pipeline_name;
  RETURN n;
END
$$;
