-- Chunking per document and chunking statistics: rechunk_document, chunking_stats.

-- Chunking settings of single documents that differ from their pipeline's, set by rechunk_document.
-- The worker chunks a document with these when present (src/sql/queries/loadDocuments.ts).
CREATE TABLE pgembed.chunk_overrides (
  pipeline text NOT NULL REFERENCES pgembed.pipelines (name) ON DELETE CASCADE,
  doc_key jsonb NOT NULL,
  chunk_strategy text NOT NULL,
  chunk_size int NOT NULL,
  chunk_overlap int NOT NULL,
  chunk_options jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline, doc_key)
);

-- s."k1" = ($1->>0)::type1 AND …: finds a source row by its queue key without a scan.
CREATE FUNCTION pgembed._key_match(p pgembed.pipelines, alias text, param text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(format('%I.%I = (%s->>%s)::%s', alias, c, param, i - 1, t), ' AND ' ORDER BY i)
  FROM unnest(p.key_columns, p.key_types) WITH ORDINALITY AS k(c, t, i)
$$;

-- Re-chunks one document, optionally with other settings than its pipeline's. Settings given here
-- stay with the document (pgembed.chunk_overrides) until rechunk_document is called for it without
-- any; the document is queued, and the worker keeps the embeddings of chunks whose text is unchanged.
CREATE FUNCTION pgembed.rechunk_document(
  document_table regclass,
  document_id anyelement,
  chunk_strategy text DEFAULT NULL,
  chunk_size int DEFAULT NULL,
  chunk_overlap int DEFAULT NULL,
  chunk_options jsonb DEFAULT NULL,
  pipeline_name text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  p pgembed.pipelines;
  n int;
  v jsonb;
  v_key jsonb;
  found_row boolean;
  max_tokens int;
  v_strategy text;
  v_size int;
  v_overlap int;
  v_options jsonb;
  queued bigint;
BEGIN
  SELECT count(*) INTO n FROM pgembed.pipelines x
  WHERE x.source_table = document_table AND x.status <> 'disabled' AND (pipeline_name IS NULL OR x.name = pipeline_name);
  IF n = 0 THEN
    RAISE EXCEPTION '%', format('pgembed: no enabled pipeline reads table %s%s', document_table,
      CASE WHEN pipeline_name IS NULL THEN '' ELSE format(' under the name "%s"', pipeline_name) END)
      USING HINT = 'SELECT name, source_table, status FROM pgembed.pipelines lists the pipelines';
  ELSIF n > 1 THEN
    RAISE EXCEPTION 'pgembed: table % has % pipelines', document_table, n
      USING HINT = 'name one with pipeline_name => ''…'': ' || (SELECT string_agg(x.name, ', ' ORDER BY x.name)
                                                            FROM pgembed.pipelines x WHERE x.source_table = document_table);
  END IF;
  SELECT * INTO p FROM pgembed.pipelines x
  WHERE x.source_table = document_table AND x.status <> 'disabled' AND (pipeline_name IS NULL OR x.name = pipeline_name);

  -- The document key as the queue writes it: [k1, k2, …]. A composite key is passed as a jsonb array.
  v := to_jsonb(document_id);
  v_key := CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE jsonb_build_array(v) END;
  IF jsonb_array_length(v_key) <> cardinality(p.key_columns) THEN
    RAISE EXCEPTION 'pgembed: the primary key of % has % columns (%), got %', document_table,
      cardinality(p.key_columns), array_to_string(p.key_columns, ', '), v_key
      USING HINT = 'pass a composite key as a jsonb array, e.g. ''[42, "en"]''::jsonb';
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s s WHERE %s)', p.source_table, pgembed._key_match(p, 's', '$1'))
    INTO found_row USING v_key;
  IF NOT found_row THEN
    RAISE EXCEPTION 'pgembed: % has no row with key %', document_table, v_key;
  END IF;

  v_strategy := coalesce(chunk_strategy, p.chunk_strategy);
  IF NOT (v_strategy = ANY (pgembed._chunk_strategies()) OR (v_strategy = 'hierarchical' AND chunk_strategy IS NULL)) THEN
    RAISE EXCEPTION 'pgembed: unknown chunk_strategy "%"', v_strategy
      USING HINT = 'available: ' || array_to_string(pgembed._chunk_strategies(), ', ');
  END IF;
  SELECT m.max_input_tokens INTO max_tokens FROM pgembed.models m WHERE m.provider = p.provider AND m.model = p.model;
  max_tokens := coalesce(max_tokens, 8192);
  v_size := coalesce(chunk_size, p.chunk_size);
  IF v_size < 1 OR v_size > max_tokens THEN
    RAISE EXCEPTION 'pgembed: chunk_size must be between 1 and the % tokens model "%" reads (got %)', max_tokens, p.model, v_size
      USING HINT = format('use chunk_size => %s or less', max_tokens);
  END IF;
  -- A smaller size given without an overlap keeps the pipeline's overlap where it still fits.
  v_overlap := coalesce(chunk_overlap, least(p.chunk_overlap, v_size - 1));
  IF v_overlap < 0 OR v_overlap >= v_size THEN
    RAISE EXCEPTION 'pgembed: chunk_overlap must be between 0 and chunk_size - 1 = % (got %)', v_size - 1, v_overlap;
  END IF;
  IF p.chunk_strategy = 'hierarchical' AND (chunk_strategy IS NOT NULL OR chunk_size IS NOT NULL OR chunk_overlap IS NOT NULL) THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" chunks hierarchically; its documents are re-chunked with its own levels', p.name
      USING HINT = format('call pgembed.rechunk_document(%L, …) without chunk_strategy, chunk_size and chunk_overlap', document_table);
  END IF;
  -- A hierarchical pipeline's levels and sections table stay what they are.
  v_options := pgembed._chunk_options(document_table,
    CASE WHEN chunk_options IS NULL THEN p.chunk_options
         WHEN p.chunk_strategy = 'hierarchical' THEN p.chunk_options || (chunk_options - 'levels' - 'sections_table')
         ELSE chunk_options END,
    internal => chunk_options IS NULL OR p.chunk_strategy = 'hierarchical');
  IF v_strategy <> 'hierarchical' AND v_options ? 'levels' THEN
    RAISE EXCEPTION 'pgembed: chunk option levels belongs to hierarchical chunking';
  END IF;

  IF chunk_strategy IS NULL AND chunk_size IS NULL AND chunk_overlap IS NULL AND chunk_options IS NULL THEN
    DELETE FROM pgembed.chunk_overrides o WHERE o.pipeline = p.name AND o.doc_key = v_key;
  ELSE
    INSERT INTO pgembed.chunk_overrides AS o (pipeline, doc_key, chunk_strategy, chunk_size, chunk_overlap, chunk_options)
    VALUES (p.name, v_key, v_strategy, v_size, v_overlap, v_options)
    ON CONFLICT (pipeline, doc_key) DO UPDATE
      SET chunk_strategy = EXCLUDED.chunk_strategy, chunk_size = EXCLUDED.chunk_size,
          chunk_overlap = EXCLUDED.chunk_overlap, chunk_options = EXCLUDED.chunk_options, created_at = now();
  END IF;

  -- Lock a pending job rather than skip it: a worker must not claim it before these settings commit.
  INSERT INTO pgembed.queue (pipeline, doc_key) VALUES (p.name, v_key)
  ON CONFLICT (pipeline, doc_key) WHERE status = 'pending' DO UPDATE SET attempts = queue.attempts;
  GET DIAGNOSTICS queued = ROW_COUNT;
  PERFORM pg_notify('pgembed_wake', p.name);

  RETURN jsonb_build_object(
    'pipeline', p.name,
    'document_key', v_key,
    'chunk_strategy', v_strategy,
    'chunk_size', v_size,
    'chunk_overlap', v_overlap,
    'chunk_options', v_options,
    'override', NOT (chunk_strategy IS NULL AND chunk_size IS NULL AND chunk_overlap IS NULL AND chunk_options IS NULL),
    'queued', queued > 0);
END
$$;

-- Chunk statistics of one pipeline's chunk table (one scan of it).
CREATE FUNCTION pgembed._chunk_table_stats(pipeline_name text, OUT documents bigint, OUT chunks bigint,
  OUT avg_tokens numeric, OUT min_tokens int, OUT max_tokens int, OUT with_context bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p pgembed.pipelines;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines WHERE name = pipeline_name;
  IF NOT FOUND OR to_regclass(p.chunk_table::text) IS NULL THEN
    RETURN;
  END IF;
  EXECUTE format(
    'SELECT count(DISTINCT (%s)), count(*), avg(token_count), min(token_count), max(token_count),
            count(*) FILTER (WHERE context IS NOT NULL)
     FROM %s',
    (SELECT string_agg(format('%I', 'doc_' || c), ', ') FROM unnest(p.key_columns) c), p.chunk_table)
  INTO documents, chunks, avg_tokens, min_tokens, max_tokens, with_context;
END
$$;

-- Per pipeline: its chunking settings, how many documents have chunks, how many chunks, and their
-- sizes. Scans every chunk table: an operator's view, not something to poll every second.
CREATE VIEW pgembed.chunking_stats AS
SELECT p.name AS pipeline,
       p.chunk_strategy,
       p.chunk_size,
       p.chunk_overlap,
       p.chunk_options,
       s.documents,
       s.chunks,
       round(s.chunks::numeric / nullif(s.documents, 0), 2) AS avg_chunks_per_document,
       round(s.avg_tokens, 1) AS avg_tokens_per_chunk,
       s.min_tokens AS min_tokens_per_chunk,
       s.max_tokens AS max_tokens_per_chunk,
       s.with_context AS chunks_with_context,
       (SELECT count(*) FROM pgembed.chunk_overrides o WHERE o.pipeline = p.name) AS documents_with_own_settings
FROM pgembed.pipelines p
CROSS JOIN LATERAL pgembed._chunk_table_stats(p.name) s;

-- Hierarchical chunking: parent sections by one strategy, child chunks by another inside each
-- section; children are embedded, sections are kept in <table>_sections for widening a hit.
CREATE FUNCTION pgembed.enable_hierarchical_chunking(
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
  defer_index_rows bigint DEFAULT 10000,
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

-- The parent section of a chunk of a hierarchical pipeline (no row for other pipelines): what a search
-- hit on a small chunk widens to.
CREATE FUNCTION pgembed.chunk_parent(pipeline_name text, chunk_id bigint)
RETURNS TABLE (section_index int, content text, token_count int, start_char int, end_char int,
               heading_path text[], context text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p pgembed.pipelines;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = pipeline_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name;
  END IF;
  IF NOT p.chunk_options ? 'sections_table' THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT s.section_index, s.content, s.token_count, s.start_char, s.end_char, s.heading_path, s.context
     FROM %s c JOIN %s s ON %s AND s.section_index = c.parent_index
     WHERE c.id = $1',
    p.chunk_table, p.chunk_options->>'sections_table',
    (SELECT string_agg(format('s.%I = c.%I', 'doc_' || k, 'doc_' || k), ' AND ') FROM unnest(p.key_columns) k))
  USING chunk_id;
END
$$;
