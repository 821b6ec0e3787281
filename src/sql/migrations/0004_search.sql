-- Search: pgembed.search (vector), pgembed.hybrid_search (full text + vector, reciprocal rank
-- fusion), per-pipeline search settings, and vector index management. Plain PL/pgSQL; every
-- identifier reaching dynamic SQL goes through format('%I') or a regclass, every user value is a
-- parameter of EXECUTE … USING.

-- Search settings of a pipeline (validated by pgembed.configure_search):
--   ef_search        hnsw.ef_search used by searches (the recall monitor's --tune writes it)
--   probes           ivfflat.probes (IVFFlat pipelines)
--   max_scan_tuples  hnsw.max_scan_tuples: how far an iterative scan may go for a selective filter
--   tenant_column    source column every search must be restricted to (search(..., tenant => …))
--   m, ef_construction, lists: parameters of the current vector index (written by index builds)
ALTER TABLE pgembed.pipelines ADD COLUMN search_options jsonb NOT NULL DEFAULT '{}';

-- Index-scan settings for one search, SET LOCAL (set_config(…, true)): iterative scans
-- (pgvector ≥ 0.8) so that a filter, a join or k > ef_search never starves the result, and the
-- pipeline's tuned ef_search / probes. Returns the previous values for _restore_search_settings: a
-- search called inside a user's transaction must not leave relaxed-order scans behind for the
-- user's own queries. Settings this server does not know (pgvector 0.7) are left alone. Written
-- without queries (plain expressions only): it runs on every search.
CREATE FUNCTION pgembed._apply_search_settings(p pgembed.pipelines, ef_search int) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  names text[] := ARRAY['hnsw.ef_search', 'hnsw.iterative_scan', 'hnsw.max_scan_tuples', 'ivfflat.probes', 'ivfflat.iterative_scan'];
  ef int := coalesce(ef_search, (p.search_options->>'ef_search')::int, 40);
  wanted text[];
  previous text[] := ARRAY[NULL, NULL, NULL, NULL, NULL]::text[];
  ignored text;
BEGIN
  IF ef < 1 OR ef > 1000 THEN
    RAISE EXCEPTION 'pgembed: ef_search must be between 1 and 1000 (got %)', ef;
  END IF;
  wanted := ARRAY[ef::text, 'relaxed_order', p.search_options->>'max_scan_tuples', p.search_options->>'probes', 'relaxed_order'];
  FOR i IN 1..5 LOOP
    IF wanted[i] IS NOT NULL THEN
      previous[i] := current_setting(names[i], true);
      IF previous[i] IS NOT NULL THEN
        ignored := set_config(names[i], wanted[i], true);
      END IF;
    END IF;
  END LOOP;
  RETURN previous;
END
$$;

CREATE FUNCTION pgembed._restore_search_settings(previous text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  names text[] := ARRAY['hnsw.ef_search', 'hnsw.iterative_scan', 'hnsw.max_scan_tuples', 'ivfflat.probes', 'ivfflat.iterative_scan'];
  ignored text;
BEGIN
  FOR i IN 1..5 LOOP
    IF previous[i] IS NOT NULL THEN
      ignored := set_config(names[i], previous[i], true);
    END IF;
  END LOOP;
END
$$;

-- jsonb_build_array(c."doc_k1", …): a chunk's document key. A loop, not a query: it runs on every
-- search.
CREATE FUNCTION pgembed._chunk_key_expr(key_columns name[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  col name;
  parts text[] := ARRAY[]::text[];
BEGIN
  FOREACH col IN ARRAY key_columns LOOP
    parts := parts || format('c.%I', 'doc_' || col);
  END LOOP;
  RETURN 'jsonb_build_array(' || array_to_string(parts, ', ') || ')';
END
$$;

-- The pipeline row, or a clear error.
CREATE FUNCTION pgembed._search_pipeline(pipeline_name text) RETURNS pgembed.pipelines
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p pgembed.pipelines;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = pipeline_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name
      USING HINT = 'SELECT name FROM pgembed.pipelines lists the pipelines';
  END IF;
  RETURN p;
END
$$;

-- Cosine distance between chunk `c` and the query vector $1, written exactly like the index
-- expression so the planner can use the index (halfvec beyond 2,000 dimensions).
CREATE FUNCTION pgembed._distance_expr(p pgembed.pipelines) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p.dimensions > 2000
    THEN format('(c.embedding::halfvec(%s)) <=> ($1::halfvec(%s))', p.dimensions, p.dimensions)
    ELSE 'c.embedding <=> $1' END
$$;

-- `FROM chunks c [JOIN source s ON key] WHERE …` for a filter and tenant. Values are never
-- inlined: $3 is the metadata filter (jsonb containment), $4 the source-column filter
-- ({column: value or [values]}), $5 the tenant. (regclass::text is quoted and schema-qualified as the
-- current search_path requires, and EXECUTE runs under that same search_path.) Column names are checked against the catalog, and their types
-- come from it.
CREATE FUNCTION pgembed._search_from(p pgembed.pipelines, filter jsonb, tenant text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  conds text[] := ARRAY[]::text[];
  need_source boolean := false;
  col text;
  typ text;
  tenant_col text := p.search_options->>'tenant_column';
BEGIN
  IF filter IS NOT NULL AND jsonb_typeof(filter) <> 'null' THEN
    IF jsonb_typeof(filter) <> 'object' THEN
      RAISE EXCEPTION 'pgembed: filter must be a jsonb object (got %)', jsonb_typeof(filter)
        USING HINT = 'e.g. ''{"metadata": {"lang": "en"}, "source": {"category": ["faq", "guide"]}}''';
    END IF;
    FOR col IN SELECT jsonb_object_keys(filter) LOOP
      IF col NOT IN ('metadata', 'source') THEN
        RAISE EXCEPTION 'pgembed: unknown filter key "%"', col
          USING HINT = 'filter takes "metadata" (matched with @> on the chunk metadata) and "source" (equality on source-table columns)';
      END IF;
    END LOOP;
    IF filter ? 'metadata' THEN
      IF jsonb_typeof(filter->'metadata') <> 'object' THEN
        RAISE EXCEPTION 'pgembed: filter.metadata must be a jsonb object';
      END IF;
      conds := conds || 'c.metadata @> $3'::text;
    END IF;
    IF filter ? 'source' THEN
      IF jsonb_typeof(filter->'source') <> 'object' THEN
        RAISE EXCEPTION 'pgembed: filter.source must be a jsonb object of column: value or [values]';
      END IF;
      FOR col IN SELECT jsonb_object_keys(filter->'source') LOOP
        SELECT format_type(a.atttypid, a.atttypmod) INTO typ FROM pg_attribute a
        WHERE a.attrelid = p.source_table AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'pgembed: source table % has no column "%"', p.source_table, col
            USING HINT = 'its columns are: ' || (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
                                                FROM pg_attribute WHERE attrelid = p.source_table AND attnum > 0 AND NOT attisdropped);
        END IF;
        -- An immutable function of a parameter: folded to a constant array at planning time, so the
        -- planner estimates the filter's selectivity from the column's statistics (and scans the
        -- few matching rows exactly when that is cheaper than walking the vector index).
        conds := conds || format('s.%I = ANY (pgembed._jsonb_text_array($4->%L)::%s[])', col, col, typ);
        need_source := true;
      END LOOP;
    END IF;
  END IF;
  IF tenant_col IS NOT NULL THEN
    IF tenant IS NULL THEN
      RAISE EXCEPTION 'pgembed: pipeline "%" is multi-tenant (tenant column %): every search must name a tenant', p.name, quote_ident(tenant_col)
        USING HINT = 'pass tenant => ''…'' (TypeScript: { tenant }, CLI: --tenant)';
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO typ FROM pg_attribute a
    WHERE a.attrelid = p.source_table AND a.attname = tenant_col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'pgembed: tenant column "%" no longer exists in %', tenant_col, p.source_table
        USING HINT = format('SELECT pgembed.configure_search(%L, ''{"tenant_column": null}'')', p.name);
    END IF;
    conds := conds || format('s.%I = $5::%s', tenant_col, typ);
    need_source := true;
  ELSIF tenant IS NOT NULL THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" has no tenant column', p.name
      USING HINT = format('declare one: SELECT pgembed.configure_search(%L, ''{"tenant_column": "tenant_id"}'')', p.name);
  END IF;
  RETURN format('FROM %s c', p.chunk_table)
    || CASE WHEN need_source THEN format(' JOIN %s s ON %s', p.source_table,
         (SELECT string_agg(format('s.%I = c.%I', k, 'doc_' || k), ' AND ') FROM unnest(p.key_columns) k))
       ELSE '' END
    || ' WHERE ' || CASE WHEN cardinality(conds) > 0 THEN array_to_string(conds, ' AND ') ELSE 'true' END;
END
$$;

-- A filter value as text[]: a JSON array's elements, or a single scalar.
CREATE FUNCTION pgembed._jsonb_text_array(value jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE jsonb_typeof(value) WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(value))
                                  ELSE ARRAY[value #>> '{}'] END
$$;

-- `FROM chunks c WHERE true` when there is nothing to filter (no catalog lookups), else _search_from.
CREATE FUNCTION pgembed._search_source(p pgembed.pipelines, filter jsonb, tenant text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN (filter IS NULL OR jsonb_typeof(filter) = 'null') AND tenant IS NULL
                   AND NOT p.search_options ? 'tenant_column'
              THEN format('FROM %s c WHERE true', p.chunk_table)
              ELSE pgembed._search_from(p, filter, tenant) END
$$;

-- The k chunks nearest to query_embedding (cosine), optionally filtered, restricted to a tenant,
-- or one best chunk per document.
CREATE FUNCTION pgembed.search(
  pipeline text,
  query_embedding vector,
  k int DEFAULT 10,
  filter jsonb DEFAULT NULL,
  tenant text DEFAULT NULL,
  group_by_document boolean DEFAULT false,
  min_score float8 DEFAULT NULL,
  ef_search int DEFAULT NULL
) RETURNS TABLE (
  document_key jsonb, chunk_id bigint, chunk_index int, content text, start_char int, end_char int,
  heading_path text[], metadata jsonb, distance float8, score float8
)
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
  from_sql text;
  dist text;
  key_expr text;
  previous text[];
  win int := k;
  ndocs bigint;
  nrows bigint;
  inner_sql text;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = pipeline;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline
      USING HINT = 'SELECT name FROM pgembed.pipelines lists the pipelines';
  END IF;
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    RAISE EXCEPTION 'pgembed: k must be between 1 and 1000 (got %)', k;
  END IF;
  IF query_embedding IS NOT NULL AND vector_dims(query_embedding) <> p.dimensions THEN
    RAISE EXCEPTION 'pgembed: the query embedding has % dimensions but pipeline "%" stores %',
      vector_dims(query_embedding), p.name, p.dimensions
      USING HINT = format('embed the query with the pipeline''s model (%s %s)', p.provider, p.model);
  END IF;
  dist := pgembed._distance_expr(p);
  key_expr := pgembed._chunk_key_expr(p.key_columns);
  IF query_embedding IS NULL THEN
    RAISE EXCEPTION 'pgembed: query_embedding must not be NULL' USING HINT = 'for full-text search use pgembed.hybrid_search(pipeline, query_text, NULL)';
  END IF;
  from_sql := pgembed._search_source(p, filter, tenant);
  previous := pgembed._apply_search_settings(p, ef_search);
  -- Relaxed-order iterative scans may return neighbours slightly out of order: materialise the
  -- window, then sort it exactly (pgvector's documented pattern).
  inner_sql := format(
    'SELECT %s AS document_key, c.id AS chunk_id, c.chunk_index, c.content, c.start_char, c.end_char, c.heading_path, c.metadata, (%s)::float8 AS distance
     %s ORDER BY %s LIMIT $2', key_expr, dist, from_sql, dist);
  IF group_by_document THEN
    -- Widen the window until it holds k documents or the table has no more matching chunks.
    win := greatest(k * 4, 40);
    LOOP
      EXECUTE format('SELECT count(DISTINCT w.document_key), count(*) FROM (%s) w', inner_sql)
        INTO ndocs, nrows USING query_embedding, win, filter->'metadata', filter->'source', tenant;
      EXIT WHEN ndocs >= k OR nrows < win OR win >= 100000;
      win := win * 4;
    END LOOP;
    RETURN QUERY EXECUTE format(
      'WITH w AS MATERIALIZED (%s)
       SELECT * FROM (SELECT DISTINCT ON (w.document_key) w.document_key, w.chunk_id, w.chunk_index, w.content, w.start_char, w.end_char,
                             w.heading_path, w.metadata, w.distance, 1 - w.distance AS score
                      FROM w ORDER BY w.document_key, w.distance, w.chunk_id) best
       WHERE $6::float8 IS NULL OR best.score >= $6
       ORDER BY best.distance, best.chunk_id LIMIT $7', inner_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, min_score, k;
  ELSE
    RETURN QUERY EXECUTE format(
      'WITH w AS MATERIALIZED (%s)
       SELECT w.document_key, w.chunk_id, w.chunk_index, w.content, w.start_char, w.end_char, w.heading_path, w.metadata,
              w.distance, 1 - w.distance AS score
       FROM w WHERE $6::float8 IS NULL OR 1 - w.distance >= $6
       ORDER BY w.distance, w.chunk_id', inner_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, min_score;
  END IF;
  PERFORM pgembed._restore_search_settings(previous);
END
$$;

-- Lexemes of `query_text` OR-ed together: the fallback when a query's words do not all occur in one
-- chunk (websearch_to_tsquery requires every word). NULL when the text has no lexemes.
CREATE FUNCTION pgembed._any_word_query(config regconfig, query_text text) RETURNS tsquery
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery
  FROM unnest(tsvector_to_array(to_tsvector(config, query_text))) AS lexeme
$$;

-- Hybrid retrieval: the full-text ranking (websearch_to_tsquery; see text_match) and the vector
-- ranking, each over a candidate window, fused by weighted reciprocal rank fusion:
--   score = vector_weight / (rrf_k + vector_rank) + text_weight / (rrf_k + text_rank)
-- rrf_k defaults to 20, not the customary 60: with 60 the evaluation in bench/retrieval lost
-- 3 % Recall@5 to vector-only (2 standard errors); with 20 it tied or beat vector-only on every metric.
-- A NULL query_embedding gives full-text search alone; a NULL query_text, vector search alone.
-- text_match: 'all' every word must occur (websearch_to_tsquery); 'any' at least one word;
-- 'auto' (default) every word, and when no chunk has them all, any word: a query that requires every
-- word matches almost nothing, and an empty full-text ranking would leave hybrid = vector-only.
-- (Filling the window with any-word matches after the all-word ones instead lifts chunks that share
-- one common word with the query above an exact identifier match.) Any-word matches are a weak
-- signal: in the fusion they weigh fallback_weight × text_weight (default 0.25, measured in
-- bench/retrieval: at 1 they made hybrid worse than vector-only).
CREATE FUNCTION pgembed.hybrid_search(
  pipeline text,
  query_text text,
  query_embedding vector,
  k int DEFAULT 10,
  filter jsonb DEFAULT NULL,
  tenant text DEFAULT NULL,
  group_by_document boolean DEFAULT false,
  min_score float8 DEFAULT NULL,
  rrf_k int DEFAULT 20,
  vector_weight float8 DEFAULT 1,
  text_weight float8 DEFAULT 1,
  candidates int DEFAULT NULL,
  text_match text DEFAULT 'auto',
  ef_search int DEFAULT NULL,
  fallback_weight float8 DEFAULT 0.25
) RETURNS TABLE (
  document_key jsonb, chunk_id bigint, chunk_index int, content text, start_char int, end_char int,
  heading_path text[], metadata jsonb, distance float8, score float8, vector_rank int, text_rank int
)
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
  from_sql text;
  dist text;
  tsv text;
  key_expr text;
  all_q tsquery;
  any_q tsquery;
  previous text[];
  win int;
  ndocs bigint;
  fused_sql text;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = pipeline;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline
      USING HINT = 'SELECT name FROM pgembed.pipelines lists the pipelines';
  END IF;
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    RAISE EXCEPTION 'pgembed: k must be between 1 and 1000 (got %)', k;
  END IF;
  IF query_embedding IS NOT NULL AND vector_dims(query_embedding) <> p.dimensions THEN
    RAISE EXCEPTION 'pgembed: the query embedding has % dimensions but pipeline "%" stores %',
      vector_dims(query_embedding), p.name, p.dimensions
      USING HINT = format('embed the query with the pipeline''s model (%s %s)', p.provider, p.model);
  END IF;
  dist := pgembed._distance_expr(p);
  key_expr := pgembed._chunk_key_expr(p.key_columns);
  IF rrf_k IS NULL OR rrf_k < 0 THEN
    RAISE EXCEPTION 'pgembed: rrf_k must be 0 or more (got %)', rrf_k;
  END IF;
  -- Bounded so that weight / (rrf_k + rank) can neither underflow nor overflow a float8.
  IF vector_weight IS NULL OR text_weight IS NULL OR fallback_weight IS NULL
     OR NOT (vector_weight = 0 OR vector_weight BETWEEN 1e-6 AND 1e6)
     OR NOT (text_weight = 0 OR text_weight BETWEEN 1e-6 AND 1e6)
     OR NOT (fallback_weight = 0 OR fallback_weight BETWEEN 1e-6 AND 1e6) THEN
    RAISE EXCEPTION 'pgembed: vector_weight, text_weight and fallback_weight must be 0 or between 1e-6 and 1e6 (got %, %, %)',
      vector_weight, text_weight, fallback_weight;
  END IF;
  IF text_match IS NULL OR text_match NOT IN ('auto', 'all', 'any') THEN
    RAISE EXCEPTION 'pgembed: text_match must be auto, all or any (got "%")', text_match;
  END IF;
  IF candidates IS NOT NULL AND (candidates < k OR candidates > 10000) THEN
    RAISE EXCEPTION 'pgembed: candidates must be between k (%) and 10000 (got %)', k, candidates;
  END IF;
  IF query_embedding IS NULL AND coalesce(btrim(query_text), '') = '' THEN
    RAISE EXCEPTION 'pgembed: give a query_text, a query_embedding, or both';
  END IF;
  -- Written exactly like the GIN index expression, so the planner uses it.
  tsv := format('to_tsvector(%L::regconfig, c.content)', p.text_search_config::text);
  IF coalesce(btrim(query_text), '') <> '' THEN
    IF text_match IN ('auto', 'all') THEN
      all_q := websearch_to_tsquery(p.text_search_config, query_text);
      IF numnode(all_q) = 0 THEN all_q := NULL; END IF;
    END IF;
    IF text_match IN ('auto', 'any') THEN
      any_q := pgembed._any_word_query(p.text_search_config, query_text);
    END IF;
  END IF;
  from_sql := pgembed._search_source(p, filter, tenant);
  previous := pgembed._apply_search_settings(p, ef_search);
  win := coalesce(candidates, greatest(k * 4, 40));

  -- $1 vector, $2 window, $3 metadata, $4 source, $5 tenant, $6 all-words query, $7 any-word query,
  -- $8 rrf_k, $9 vector weight, $10 text weight, $11 min_score, $12 k, $13 fallback weight.
  fused_sql := format($q$
    WITH v AS MATERIALIZED (
      SELECT c.id, (%1$s)::float8 AS distance %2$s AND $1 IS NOT NULL ORDER BY %1$s LIMIT $2
    ), vr AS (
      SELECT v.id, v.distance, row_number() OVER (ORDER BY v.distance, v.id) AS r FROM v
    ), ta AS MATERIALIZED (
      SELECT c.id, ts_rank_cd(%3$s, $6) AS rank %2$s AND %3$s @@ $6 ORDER BY 2 DESC, c.id LIMIT $2
    ), tany AS MATERIALIZED (
      SELECT c.id, ts_rank_cd(%3$s, $7) AS rank %2$s AND %3$s @@ $7 AND ($6 IS NULL OR NOT %3$s @@ $6)
        AND NOT EXISTS (SELECT FROM ta)
      ORDER BY 2 DESC, c.id LIMIT $2
    ), tr AS (
      SELECT t.id, t.grp, row_number() OVER (ORDER BY t.grp, t.rank DESC, t.id) AS r
      FROM (SELECT ta.id, ta.rank, 0 AS grp FROM ta UNION ALL SELECT tany.id, tany.rank, 1 FROM tany) t
    ), fused AS (
      SELECT coalesce(vr.id, tr.id) AS id, vr.r AS vector_rank, tr.r AS text_rank,
             coalesce($9 / ($8 + vr.r), 0)
               + coalesce(CASE WHEN tr.grp = 0 THEN $10 ELSE $10 * $13 END / ($8 + tr.r), 0) AS score
      FROM vr FULL JOIN (SELECT * FROM tr WHERE tr.r <= $2) tr ON tr.id = vr.id
    )
    SELECT %4$s AS document_key, c.id AS chunk_id, c.chunk_index, c.content, c.start_char, c.end_char,
           c.heading_path, c.metadata, CASE WHEN $1 IS NULL THEN NULL ELSE (%1$s)::float8 END AS distance,
           f.score::float8 AS score, f.vector_rank::int AS vector_rank, f.text_rank::int AS text_rank
    FROM fused f JOIN %5$s c ON c.id = f.id
    WHERE $11::float8 IS NULL OR $1 IS NULL OR 1 - (%1$s) >= $11$q$,
    dist, from_sql, tsv, key_expr, p.chunk_table);

  IF group_by_document THEN
    -- Widen both windows until the fused list holds k documents (or cannot grow).
    LOOP
      EXECUTE format('SELECT count(DISTINCT r.document_key) FROM (%s) r', fused_sql) INTO ndocs
        USING query_embedding, win, filter->'metadata', filter->'source', tenant, all_q, any_q, rrf_k::float8,
              vector_weight, text_weight, min_score, k, fallback_weight;
      EXIT WHEN ndocs >= k OR win >= 10000;
      win := least(win * 4, 10000);
    END LOOP;
    RETURN QUERY EXECUTE format(
      'SELECT * FROM (SELECT DISTINCT ON (r.document_key) * FROM (%s) r ORDER BY r.document_key, r.score DESC, r.chunk_id) best
       ORDER BY best.score DESC, best.chunk_id LIMIT $12', fused_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, all_q, any_q, rrf_k::float8,
            vector_weight, text_weight, min_score, k, fallback_weight;
  ELSE
    RETURN QUERY EXECUTE format('SELECT * FROM (%s) r ORDER BY r.score DESC, r.chunk_id LIMIT $12', fused_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, all_q, any_q, rrf_k::float8,
            vector_weight, text_weight, min_score, k, fallback_weight;
  END IF;
  PERFORM pgembed._restore_search_settings(previous);
END
$$;

-- Changes a pipeline's search settings; a key set to null goes back to its default. Returns the
-- settings in effect.
CREATE FUNCTION pgembed.configure_search(pipeline text, options jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines := pgembed._search_pipeline(pipeline);
  key text;
  val jsonb;
  upper_bound numeric;
  merged jsonb;
BEGIN
  IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'pgembed: options must be a jsonb object, e.g. ''{"ef_search": 80}''';
  END IF;
  FOR key, val IN SELECT j.key, j.value FROM jsonb_each(options) j LOOP
    CONTINUE WHEN jsonb_typeof(val) = 'null';
    CASE key
      WHEN 'ef_search', 'probes', 'max_scan_tuples' THEN
        upper_bound := CASE key WHEN 'ef_search' THEN 1000 WHEN 'probes' THEN 32768 ELSE 2147483647 END;
        IF jsonb_typeof(val) <> 'number' OR val::numeric <> trunc(val::numeric)
           OR val::numeric < 1 OR val::numeric > upper_bound THEN
          RAISE EXCEPTION 'pgembed: % must be an integer between 1 and % (got %)', key, upper_bound, val;
        END IF;
      WHEN 'tenant_column' THEN
        IF jsonb_typeof(val) <> 'string' OR NOT EXISTS (
             SELECT 1 FROM pg_attribute a WHERE a.attrelid = p.source_table AND a.attname = val #>> '{}'
               AND a.attnum > 0 AND NOT a.attisdropped) THEN
          RAISE EXCEPTION 'pgembed: tenant_column % is not a column of %', val, p.source_table;
        END IF;
      ELSE
        RAISE EXCEPTION 'pgembed: unknown search option "%"', key
          USING HINT = 'known: ef_search, probes, max_scan_tuples, tenant_column';
    END CASE;
  END LOOP;
  merged := jsonb_strip_nulls(p.search_options || options);
  UPDATE pgembed.pipelines x SET search_options = merged WHERE x.name = p.name;
  RETURN merged;
END
$$;

-- Vector indexes (HNSW or IVFFlat) on a pipeline's chunk table.
CREATE FUNCTION pgembed._vector_indexes(chunk_table regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
  SELECT i.indexrelid::regclass
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
  WHERE i.indrelid = chunk_table AND am.amname IN ('hnsw', 'ivfflat')
$$;

-- The CREATE INDEX statement for a pipeline's vector index (no name: PostgreSQL picks a free one,
-- so a new index can be built beside the old one). HNSW: m (default 16) and ef_construction (64),
-- pgvector's defaults. IVFFlat: lists from the row count when not given (rows / 1000 up to a
-- million rows, √rows beyond, pgvector's advice); an IVFFlat index must be built on data.
-- Beyond 2,000 dimensions the index is on embedding::halfvec(N) (up to 4,000).
CREATE FUNCTION pgembed.vector_index_definition(
  pipeline text,
  index_type text DEFAULT NULL,
  m int DEFAULT NULL,
  ef_construction int DEFAULT NULL,
  lists int DEFAULT NULL
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines := pgembed._search_pipeline(pipeline);
  t text := coalesce(index_type, CASE WHEN p.index_type IN ('hnsw', 'ivfflat') THEN p.index_type ELSE 'hnsw' END);
  col text := CASE WHEN p.dimensions > 2000 THEN format('(embedding::halfvec(%s)) halfvec_cosine_ops', p.dimensions)
                   ELSE 'embedding vector_cosine_ops' END;
  n_rows bigint;
  v_m int := coalesce(m, (p.search_options->>'m')::int, 16);
  v_efc int := coalesce(ef_construction, (p.search_options->>'ef_construction')::int, 64);
  v_lists int := lists;
BEGIN
  IF p.dimensions > 4000 THEN
    RAISE EXCEPTION 'pgembed: pgvector indexes at most 4,000 dimensions (as halfvec); pipeline "%" has %', p.name, p.dimensions
      USING HINT = 'searches scan the table exactly; use a model with fewer dimensions for an index';
  END IF;
  IF t = 'hnsw' THEN
    IF v_m < 2 OR v_m > 100 THEN RAISE EXCEPTION 'pgembed: m must be between 2 and 100 (got %)', v_m; END IF;
    IF v_efc < 4 OR v_efc > 1000 OR v_efc < 2 * v_m THEN
      RAISE EXCEPTION 'pgembed: ef_construction must be between 2·m (%) and 1000 (got %)', 2 * v_m, v_efc;
    END IF;
    RETURN format('CREATE INDEX ON %s USING hnsw (%s) WITH (m = %s, ef_construction = %s)',
                  pgembed._qualified(p.chunk_table), col, v_m, v_efc);
  ELSIF t = 'ivfflat' THEN
    IF v_lists IS NULL THEN
      EXECUTE format('SELECT count(*) FROM %s', pgembed._qualified(p.chunk_table)) INTO n_rows;
      v_lists := greatest(1, CASE WHEN n_rows <= 1000000 THEN n_rows / 1000 ELSE floor(sqrt(n_rows))::bigint END);
    END IF;
    IF v_lists < 1 OR v_lists > 32768 THEN RAISE EXCEPTION 'pgembed: lists must be between 1 and 32768 (got %)', v_lists; END IF;
    RETURN format('CREATE INDEX ON %s USING ivfflat (%s) WITH (lists = %s)', pgembed._qualified(p.chunk_table), col, v_lists);
  END IF;
  RAISE EXCEPTION 'pgembed: index_type must be hnsw or ivfflat (got "%")', t;
END
$$;

-- Records what a (re)built vector index is: the pipeline's index_type, and its parameters in
-- search_options (IVFFlat: probes = √lists unless already set).
CREATE FUNCTION pgembed._record_vector_index(pipeline text, definition text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  t text := substring(definition FROM 'USING (hnsw|ivfflat)');
  params jsonb := '{}';
  pair text[];
BEGIN
  FOR pair IN SELECT regexp_matches(definition, '(\w+) = (\d+)', 'g') LOOP
    params := params || jsonb_build_object(pair[1], pair[2]::int);
  END LOOP;
  UPDATE pgembed.pipelines x
  SET index_type = t,
      search_options = ((x.search_options - 'm' - 'ef_construction' - 'lists')
        - CASE WHEN t = 'hnsw' THEN 'probes' ELSE '' END)
        || params
        || CASE WHEN t = 'ivfflat' AND NOT x.search_options ? 'probes'
             THEN jsonb_build_object('probes', greatest(1, round(sqrt((params->>'lists')::int)))::int) ELSE '{}' END
  WHERE x.name = pipeline;
  RETURN jsonb_build_object('index_type', t) || params;
END
$$;

-- Replaces a pipeline's vector index in this transaction (locks writes to the chunk table while it
-- builds; `pgembed reindex` on a server builds CONCURRENTLY instead). Returns the index's settings.
CREATE FUNCTION pgembed.create_vector_index(
  pipeline text,
  index_type text DEFAULT NULL,
  m int DEFAULT NULL,
  ef_construction int DEFAULT NULL,
  lists int DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines := pgembed._search_pipeline(pipeline);
  definition text;
  old regclass;
BEGIN
  IF p.index_state = 'deferred' THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" is still backfilling; its indexes are built when the queue drains', p.name
      USING HINT = 'wait for `pgembed status` to show index=live, then try again';
  END IF;
  definition := pgembed.vector_index_definition(pipeline, index_type, m, ef_construction, lists);
  FOR old IN SELECT pgembed._vector_indexes(p.chunk_table) LOOP
    EXECUTE format('DROP INDEX %s', old);
  END LOOP;
  EXECUTE definition;
  RETURN pgembed._record_vector_index(pipeline, definition) || jsonb_build_object('definition', definition);
END
$$;
