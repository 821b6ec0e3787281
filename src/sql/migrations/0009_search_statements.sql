-- Search statements for the TypeScript API on a server (src/search/statements.ts).
--
-- pgembed.search / pgembed.hybrid_search look the pipeline up, build their query, SET LOCAL the scan
-- settings and restore them, plan the query and return it through a tuplestore on every call: about
-- 0.4 ms of fixed cost per search (docs/search.md, "Latency at 100,000 chunks"). On node-postgres the TypeScript API
-- instead asks once per pipeline and filter shape for the statement those functions EXECUTE
-- (pgembed._search_statement), keeps it as a named prepared statement, and runs it on private
-- connections whose session already carries the scan settings, until the pipeline changes
-- (pgembed._notify_search_changed). The text is built by the functions below, used by both paths,
-- so both run the same query.

-- The vector window of a search (before min_score and the exact sort): $1 vector, $2 window,
-- $3 metadata filter, $4 source filter, $5 tenant. Relaxed-order iterative scans may return
-- neighbours slightly out of order: callers materialise this window, then sort it exactly.
CREATE FUNCTION pgembed._vector_window_sql(p pgembed.pipelines, from_sql text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format(
    'SELECT %s AS document_key, c.id AS chunk_id, c.chunk_index, c.content, c.start_char, c.end_char, c.heading_path, c.metadata, (%s)::float8 AS distance
     %s ORDER BY %s LIMIT $2', pgembed._chunk_key_expr(p.key_columns), pgembed._distance_expr(p), from_sql,
    pgembed._distance_expr(p))
$$;

-- The fused rankings of a hybrid search, one row per chunk in either ranking (unsorted):
-- $1 vector, $2 window, $3 metadata, $4 source, $5 tenant, all_q the all-words query ($6),
-- any_q the any-word query ($7), $8 rrf_k, $9 vector weight, $10 text weight, $11 min_score,
-- $12 k, $13 fallback weight. to_tsvector is written exactly like the GIN index expression, so the
-- planner uses it.
CREATE FUNCTION pgembed._hybrid_fused_sql(p pgembed.pipelines, from_sql text, all_q text, any_q text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format($q$
    WITH v AS MATERIALIZED (
      SELECT c.id, (%1$s)::float8 AS distance %2$s AND $1 IS NOT NULL ORDER BY %1$s LIMIT $2
    ), vr AS (
      SELECT v.id, v.distance, row_number() OVER (ORDER BY v.distance, v.id) AS r FROM v
    ), ta AS MATERIALIZED (
      SELECT c.id, ts_rank_cd(%3$s, %6$s) AS rank %2$s AND %3$s @@ %6$s ORDER BY 2 DESC, c.id LIMIT $2
    ), tany AS MATERIALIZED (
      SELECT c.id, ts_rank_cd(%3$s, %7$s) AS rank %2$s AND %3$s @@ %7$s AND (%6$s IS NULL OR NOT %3$s @@ %6$s)
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
    pgembed._distance_expr(p), from_sql, format('to_tsvector(%L::regconfig, c.content)', p.text_search_config::text),
    pgembed._chunk_key_expr(p.key_columns), p.chunk_table, all_q, any_q)
$$;

-- The statement of a search without group_by_document: vector ($1–$5 as in _vector_window_sql,
-- $6 min_score) or hybrid (the parameters of _hybrid_fused_sql). `declarations` (a CTE, for
-- pgembed._search_statement) goes first; without it (the SQL functions) the text is that of 0004.
CREATE FUNCTION pgembed._search_sql(p pgembed.pipelines, kind text, from_sql text, declarations text DEFAULT NULL,
  all_q text DEFAULT '$6', any_q text DEFAULT '$7') RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE kind
    WHEN 'vector' THEN format(
      'WITH %sw AS MATERIALIZED (%s)
       SELECT w.document_key, w.chunk_id, w.chunk_index, w.content, w.start_char, w.end_char, w.heading_path, w.metadata,
              w.distance, 1 - w.distance AS score
       FROM w WHERE $6::float8 IS NULL OR 1 - w.distance >= $6
       ORDER BY w.distance, w.chunk_id', declarations || ', ',
      pgembed._vector_window_sql(p, from_sql))
    WHEN 'hybrid' THEN format('%sSELECT * FROM (%s) r ORDER BY r.score DESC, r.chunk_id LIMIT $12',
      'WITH ' || declarations || ' ', pgembed._hybrid_fused_sql(p, from_sql, all_q, any_q))
  END
$$;

-- The all-words query of hybrid search: websearch_to_tsquery, NULL when the text has no lexemes.
-- PL/pgSQL: a search statement evaluates it (four times) while it is planned, and once per call is
-- cheaper than an inlined expression that parses the text twice (0.07 ms less planning, measured).
CREATE FUNCTION pgembed._all_words_query(config regconfig, query_text text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  q tsquery := websearch_to_tsquery(config, query_text);
BEGIN
  RETURN CASE WHEN numnode(q) > 0 THEN q END;
END
$$;

-- As in 0004 (the same tsquery), in PL/pgSQL of plain expressions: a search statement calls it while
-- it is planned, and a SQL function with a FROM clause is planned again on every call.
CREATE OR REPLACE FUNCTION pgembed._any_word_query(config regconfig, query_text text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  lexeme text;
  parts text[] := ARRAY[]::text[];
BEGIN
  FOREACH lexeme IN ARRAY coalesce(tsvector_to_array(to_tsvector(config, query_text)), ARRAY[]::text[]) LOOP
    parts := parts || quote_literal(lexeme);
  END LOOP;
  RETURN nullif(array_to_string(parts, ' | '), '')::tsquery;
END
$$;

-- What the statements from pgembed._search_statement depend on changed: the TypeScript API's private
-- search connections LISTEN on pgembed_search and drop every statement they keep (another tenant
-- column, a tuned ef_search, a rebuilt index, a dropped pipeline). A notification, not a check in each
-- statement: a lookup of the pipeline row on every search cost 0.12 ms (measured), and a listening
-- connection receives the notification of a change committed before its next statement ends.
CREATE FUNCTION pgembed._notify_search_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgembed_search', OLD.name);
  RETURN NULL;
END
$$;

CREATE TRIGGER search_changed AFTER DELETE ON pgembed.pipelines
  FOR EACH ROW EXECUTE FUNCTION pgembed._notify_search_changed();
CREATE TRIGGER search_changed_update AFTER UPDATE ON pgembed.pipelines
  FOR EACH ROW
  WHEN ((OLD.name, OLD.chunk_table, OLD.source_table, OLD.key_columns, OLD.dimensions, OLD.text_search_config,
         OLD.search_options)
        IS DISTINCT FROM (NEW.name, NEW.chunk_table, NEW.source_table, NEW.key_columns, NEW.dimensions,
                          NEW.text_search_config, NEW.search_options))
  EXECUTE FUNCTION pgembed._notify_search_changed();

-- The statement pgembed.search (kind 'vector') or pgembed.hybrid_search ('hybrid', with this
-- text_match) executes for a search of `pipeline` without group_by_document, for filters and a tenant
-- of this shape (values are ignored: they are parameters; the filter and tenant are validated here,
-- with the functions' errors), and the session settings it must run with (the values
-- pgembed._apply_search_settings sets; null: the server's default; settings this server does not
-- know are left out).
-- Parameters: those of the function's EXECUTE, except that a hybrid statement takes the query text as
-- $6 (and text_match as $7, unused) and derives both full-text queries from it while it is planned.
-- They are declared with their types in a leading CTE (node-postgres cannot declare them, and
-- PostgreSQL must know the type of every parameter); it is not referenced, so the planner drops it.
-- Plan it as a custom plan (plan_cache_mode = force_custom_plan), as EXECUTE does: filter values and
-- the query text must reach the planner as constants. Build it again after a notification on
-- pgembed_search (pgembed._notify_search_changed).
CREATE FUNCTION pgembed._search_statement(pipeline text, kind text, filter jsonb DEFAULT NULL, tenant text DEFAULT NULL,
  text_match text DEFAULT NULL, OUT statement text, OUT settings jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p pgembed.pipelines := pgembed._search_pipeline(pipeline);
  loaded vector := '[0]';  -- loads pgvector: its settings exist once it is loaded
  config text := quote_literal(p.text_search_config::text) || '::regconfig';
  names text[] := ARRAY['hnsw.ef_search', 'hnsw.iterative_scan', 'hnsw.max_scan_tuples', 'ivfflat.probes', 'ivfflat.iterative_scan'];
  wanted text[] := ARRAY[coalesce(p.search_options->>'ef_search', '40'), 'relaxed_order', p.search_options->>'max_scan_tuples',
                         p.search_options->>'probes', 'relaxed_order'];
BEGIN
  IF kind IS NULL OR kind NOT IN ('vector', 'hybrid') THEN
    RAISE EXCEPTION 'pgembed: kind must be vector or hybrid (got "%")', kind;
  END IF;
  IF kind = 'hybrid' AND (text_match IS NULL OR text_match NOT IN ('auto', 'all', 'any')) THEN
    RAISE EXCEPTION 'pgembed: text_match must be auto, all or any (got "%")', text_match;
  END IF;
  statement := pgembed._search_sql(p, kind, pgembed._search_source(p, filter, tenant),
    CASE kind
      WHEN 'vector' THEN 'parameters AS (SELECT $1::vector, $2::int, $3::jsonb, $4::jsonb, $5::text, $6::float8)'
      ELSE 'parameters AS (SELECT $1::vector, $2::int, $3::jsonb, $4::jsonb, $5::text, $6::text, $7::text, $8::float8,
                                  $9::float8, $10::float8, $11::float8, $12::int, $13::float8)' END,
    -- The queries pgembed.hybrid_search computes for this text_match.
    CASE WHEN text_match IN ('auto', 'all') THEN format('pgembed._all_words_query(%s, $6)', config) ELSE 'NULL::tsquery' END,
    CASE WHEN text_match IN ('auto', 'any') THEN format('pgembed._any_word_query(%s, $6)', config) ELSE 'NULL::tsquery' END);
  SELECT jsonb_object_agg(n, w) INTO settings
  FROM unnest(names, wanted) AS s(n, w) WHERE current_setting(n, true) IS NOT NULL;
  settings := coalesce(settings, '{}');
END
$$;

-- pgembed.search and pgembed.hybrid_search of 0004, with their statements from the functions above
-- (the same text as before).
CREATE OR REPLACE FUNCTION pgembed.search(
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
  previous text[];
  win int := k;
  ndocs bigint;
  nrows bigint;
  inner_sql text;
BEGIN
  p := pgembed._search_pipeline(pipeline);
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    RAISE EXCEPTION 'pgembed: k must be between 1 and 1000 (got %)', k;
  END IF;
  IF query_embedding IS NOT NULL AND vector_dims(query_embedding) <> p.dimensions THEN
    RAISE EXCEPTION 'pgembed: the query embedding has % dimensions but pipeline "%" stores %',
      vector_dims(query_embedding), p.name, p.dimensions
      USING HINT = format('embed the query with the pipeline''s model (%s %s)', p.provider, p.model);
  END IF;
  IF query_embedding IS NULL THEN
    RAISE EXCEPTION 'pgembed: query_embedding must not be NULL' USING HINT = 'for full-text search use pgembed.hybrid_search(pipeline, query_text, NULL)';
  END IF;
  from_sql := pgembed._search_source(p, filter, tenant);
  previous := pgembed._apply_search_settings(p, ef_search);
  IF group_by_document THEN
    inner_sql := pgembed._vector_window_sql(p, from_sql);
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
    RETURN QUERY EXECUTE pgembed._search_sql(p, 'vector', from_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, min_score;
  END IF;
  PERFORM pgembed._restore_search_settings(previous);
END
$$;

CREATE OR REPLACE FUNCTION pgembed.hybrid_search(
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
  all_q tsquery;
  any_q tsquery;
  previous text[];
  win int;
  ndocs bigint;
  fused_sql text;
BEGIN
  p := pgembed._search_pipeline(pipeline);
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    RAISE EXCEPTION 'pgembed: k must be between 1 and 1000 (got %)', k;
  END IF;
  IF query_embedding IS NOT NULL AND vector_dims(query_embedding) <> p.dimensions THEN
    RAISE EXCEPTION 'pgembed: the query embedding has % dimensions but pipeline "%" stores %',
      vector_dims(query_embedding), p.name, p.dimensions
      USING HINT = format('embed the query with the pipeline''s model (%s %s)', p.provider, p.model);
  END IF;
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
  IF coalesce(btrim(query_text), '') <> '' THEN
    IF text_match IN ('auto', 'all') THEN
      all_q := pgembed._all_words_query(p.text_search_config, query_text);
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
  fused_sql := pgembed._hybrid_fused_sql(p, from_sql, '$6', '$7');

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
    RETURN QUERY EXECUTE pgembed._search_sql(p, 'hybrid', from_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, all_q, any_q, rrf_k::float8,
            vector_weight, text_weight, min_score, k, fallback_weight;
  END IF;
  PERFORM pgembed._restore_search_settings(previous);
END
$$;
