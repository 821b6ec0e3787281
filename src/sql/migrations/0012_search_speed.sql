-- Search speed: a stored tsvector per chunk, bounded full-text work, and the vector index used for
-- unfiltered searches whatever the planner estimates. Measured in docs/search.md ("Latency at
-- 100,000 chunks") with bench/search.ts.
--
-- 1. Full text. The GIN index was on the expression to_tsvector(config, content), so ranking a match
--    (ts_rank_cd) and every other test of it parsed the chunk's text again: ~80–300 µs per matching
--    chunk, 0.7 s for a one-word query matching 2,400 of 100,000 chunks of the PostgreSQL manual, and
--    more with the any-word fallback, which matches most of a corpus. Each chunk table now has
--    content_tsv, a stored generated column (written by PostgreSQL on every insert, so no writer
--    changes), indexed by GIN and read by ranking (same query: 23 ms instead of 734 ms).
-- 2. Bounded matches. However cheap one rank is, a query word that occurs in a quarter of the corpus
--    makes every search rank a quarter of the corpus. pgembed._rarest_lexemes keeps at most 16 query
--    words (the rarest, by the column's statistics: long pasted text), and its any-word fallback ORs
--    only the rarest of them until about 400 chunks are expected to match; each ranking then reads
--    at most 10 × its window of matching chunks (400 for k = 10). Tables that small are unaffected.
--    The any-word matches are ranked by ts_rank, not ts_rank_cd: with an OR of a question's words
--    ts_rank_cd cost 60 µs per chunk (16 words) against 6 µs, and the evaluation in
--    bench/retrieval gives the same numbers with either (docs/search.md).
-- 3. The vector index. The planner does not count the TOAST reads of a sequential scan (vectors of
--    768 dimensions are stored out of line), so once a chunk table of a few thousand rows is
--    analysed it prefers Seq Scan + Sort to the HNSW index: 64 ms instead of 2.4 ms on 2,290 chunks
--    of 768 dimensions. Unfiltered searches (nothing but the chunk table to scan) now run with
--    enable_seqscan off; filtered searches keep the planner's choice (a very selective filter is
--    faster scanned exactly).

-- The stored tsvector of a chunk table. Written once here, used by the trigger below and by the
-- upgrade of existing chunk tables at the end of this file.
CREATE FUNCTION pgembed._text_column_sql(config regconfig) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('content_tsv tsvector GENERATED ALWAYS AS (to_tsvector(%L::regconfig, content)) STORED', config::text)
$$;

-- Every new chunk table gets the column as its pipeline is declared: the table was created just
-- before, empty, by the same role. A trigger rather than a restatement of enable_document_chunking,
-- whose defaults later migrations restate: the column is defined here only.
CREATE FUNCTION pgembed._add_text_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = NEW.chunk_table AND attname = 'content_tsv'
                 AND NOT attisdropped) THEN
    EXECUTE format('ALTER TABLE %s ADD COLUMN %s', NEW.chunk_table, pgembed._text_column_sql(NEW.text_search_config));
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER add_text_column AFTER INSERT ON pgembed.pipelines
  FOR EACH ROW EXECUTE FUNCTION pgembed._add_text_column();

-- The full-text index of a chunk table is on content_tsv from now on: pgembed._create_indexes (0013)
-- builds it there.

-- A query text's distinct lexemes, rarest first (ties: in the order of the text), at most 16, each
-- with the number of chunks expected to contain it (pg_stats of content_tsv; 0 without statistics),
-- and how many distinct lexemes the text has (taken as its tsvector: a long text is parsed once per
-- search). 16: a question of 8–20 words has fewer (stop words
-- have none); pasted text has hundreds, and an AND or OR of all of them made the GIN scan and every
-- rank slow, while its rarest lexemes alone find the same chunks. A lexeme missing from the
-- statistics' most common elements is rarer than the least common of them: it counts half of that
-- frequency, as PostgreSQL's own estimate does.
CREATE FUNCTION pgembed._rarest_lexemes(chunk_table regclass, query_vector tsvector,
  OUT n_lexemes int, OUT n_rows float8, OUT lexemes text[], OUT expected float8[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- PL/pgSQL, not SQL: its plan is kept for the session (planning this join of pg_stats takes
  -- ~1 ms, much more than running it).
  WITH st AS MATERIALIZED (
    SELECT c.reltuples::float8 AS reltuples, s.most_common_elems::text::text[] AS elems, s.most_common_elem_freqs AS freqs
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'content_tsv'
    WHERE c.oid = chunk_table
  ), l AS (
    SELECT t.lexeme, t.positions[1] AS pos,
           coalesce(st.freqs[array_position(st.elems, t.lexeme)],
                    -- The last three frequencies are the minimum, the maximum and the null fraction.
                    st.freqs[cardinality(st.elems) + 1] / 2, 0)::float8 AS freq
    FROM st, unnest(query_vector) t
  )
  SELECT count(*)::int, (SELECT st.reltuples FROM st),
         (array_agg(l.lexeme ORDER BY l.freq, l.pos, l.lexeme))[1:16],
         (array_agg(l.freq * (SELECT st.reltuples FROM st) ORDER BY l.freq, l.pos, l.lexeme))[1:16]
  INTO n_lexemes, n_rows, lexemes, expected
  FROM l;
END
$$;

-- The all-words query of a hybrid search (NULL when the text has no lexemes, or for text_match
-- 'any'): websearch_to_tsquery (quotes and -word work), or for text of more than 16 distinct
-- lexemes, every one of its 16 rarest; then also the rarest lexemes (pgembed._rarest_lexemes), which
-- pgembed._any_word_queries takes instead of looking them up again.
CREATE FUNCTION pgembed._all_words_query(chunk_table regclass, config regconfig, query_text text, text_match text,
  OUT all_q tsquery, OUT n_lexemes int, OUT n_rows float8, OUT lexemes text[], OUT expected float8[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v tsvector;
BEGIN
  IF coalesce(btrim(query_text), '') = '' OR text_match NOT IN ('auto', 'all') THEN
    RETURN;
  END IF;
  v := to_tsvector(config, query_text);
  IF length(v) <= 16 THEN
    all_q := websearch_to_tsquery(config, query_text);
    IF numnode(all_q) = 0 THEN all_q := NULL; END IF;
    RETURN;
  END IF;
  SELECT r.n_lexemes, r.n_rows, r.lexemes, r.expected INTO n_lexemes, n_rows, lexemes, expected
  FROM pgembed._rarest_lexemes(chunk_table, v) r;
  all_q := array_to_string(ARRAY(SELECT quote_literal(k) FROM unnest(lexemes) k), ' & ')::tsquery;
END
$$;

-- The any-word fallback of a hybrid search (NULLs when the text has no lexemes, or for text_match
-- 'all'): any_q, what it matches: any of the rarest lexemes, taken rarest first while the chunks
-- expected to match stay within 400, and at least the rarest one (all of them on a table of 400
-- chunks or fewer, or without statistics); rank_q, what those matches are ranked by: any of the
-- (at most 16) rarest lexemes. The statistics are read only when a search needs this fallback.
CREATE FUNCTION pgembed._any_word_queries(chunk_table regclass, config regconfig, query_text text, text_match text,
  known_lexemes int DEFAULT NULL, known_rows float8 DEFAULT NULL, known text[] DEFAULT NULL,
  known_expected float8[] DEFAULT NULL, OUT any_q tsquery, OUT rank_q tsquery)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  budget constant float8 := 400;
  r record;
  total float8 := 0;
  chosen int := 0;
BEGIN
  IF coalesce(btrim(query_text), '') = '' OR text_match NOT IN ('auto', 'any') THEN
    RETURN;
  END IF;
  IF known IS NOT NULL THEN
    SELECT known_lexemes AS n_lexemes, known_rows AS n_rows, known AS lexemes, known_expected AS expected INTO r;
  ELSE
    SELECT * INTO r FROM pgembed._rarest_lexemes(chunk_table, to_tsvector(config, query_text));
  END IF;
  IF r.n_lexemes = 0 THEN
    RETURN;
  END IF;
  rank_q := array_to_string(ARRAY(SELECT quote_literal(k) FROM unnest(r.lexemes) k), ' | ')::tsquery;
  IF r.n_rows IS NULL OR r.n_rows <= budget OR r.expected[1] = 0 THEN
    any_q := rank_q;
    RETURN;
  END IF;
  FOR i IN 1..cardinality(r.lexemes) LOOP
    EXIT WHEN chosen > 0 AND total + r.expected[i] > budget;
    chosen := i;
    total := total + r.expected[i];
  END LOOP;
  any_q := array_to_string(ARRAY(SELECT quote_literal(k) FROM unnest(r.lexemes[1:chosen]) k), ' | ')::tsquery;
END
$$;

-- The fused rankings of a hybrid search, one row per chunk in either ranking (unsorted):
-- $1 vector, $2 window, $3 metadata, $4 source, $5 tenant, $6 query text, $7 text_match, $8 rrf_k,
-- $9 vector weight, $10 text weight, $11 min_score, $12 k, $13 fallback weight. The full-text queries
-- come from the text (pgembed._all_words_query, pgembed._any_word_queries: once per statement, the
-- second only when no chunk has every word); each ranking reads at most 10 × the window of matching
-- chunks (in the table's order) and ranks them by the stored content_tsv: all-words matches by
-- ts_rank_cd, any-word matches by ts_rank (see the top of this file). The any-word
-- ranking runs only when no chunk has every word, so it need not exclude all-words matches.
CREATE FUNCTION pgembed._hybrid_fused_sql(p pgembed.pipelines, from_sql text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format($q$
    WITH qa AS MATERIALIZED (
      SELECT * FROM pgembed._all_words_query(%5$L::regclass, %6$L::regconfig, $6, $7)
    ), qo AS MATERIALIZED (
      SELECT o.* FROM qa, pgembed._any_word_queries(%5$L::regclass, %6$L::regconfig, $6, $7, qa.n_lexemes, qa.n_rows,
                                                    qa.lexemes, qa.expected) o
    ), v AS MATERIALIZED (
      SELECT c.id, (%1$s)::float8 AS distance %2$s AND $1 IS NOT NULL ORDER BY %1$s LIMIT $2
    ), vr AS (
      SELECT v.id, v.distance, row_number() OVER (ORDER BY v.distance, v.id) AS r FROM v
    ), ta AS MATERIALIZED (
      SELECT m.id, ts_rank_cd(m.content_tsv, (SELECT qa.all_q FROM qa)) AS rank
      FROM (SELECT c.id, c.content_tsv %2$s AND c.content_tsv @@ (SELECT qa.all_q FROM qa) LIMIT 10 * $2) m
      ORDER BY 2 DESC, m.id LIMIT $2
    ), tany AS MATERIALIZED (
      SELECT m.id, ts_rank(m.content_tsv, (SELECT qo.rank_q FROM qo)) AS rank
      FROM (SELECT c.id, c.content_tsv %2$s AND c.content_tsv @@ (SELECT qo.any_q FROM qo) AND NOT EXISTS (SELECT FROM ta)
            LIMIT 10 * $2) m
      ORDER BY 2 DESC, m.id LIMIT $2
    ), tr AS (
      SELECT t.id, t.grp, row_number() OVER (ORDER BY t.grp, t.rank DESC, t.id) AS r
      FROM (SELECT ta.id, ta.rank, 0 AS grp FROM ta UNION ALL SELECT tany.id, tany.rank, 1 FROM tany) t
    ), fused AS (
      SELECT coalesce(vr.id, tr.id) AS id, vr.r AS vector_rank, tr.r AS text_rank,
             coalesce($9 / ($8 + vr.r), 0)
               + coalesce(CASE WHEN tr.grp = 0 THEN $10 ELSE $10 * $13 END / ($8 + tr.r), 0) AS score
      FROM vr FULL JOIN (SELECT * FROM tr WHERE tr.r <= $2) tr ON tr.id = vr.id
    )
    SELECT %3$s AS document_key, c.id AS chunk_id, c.chunk_index, c.content, c.start_char, c.end_char,
           c.heading_path, c.metadata, CASE WHEN $1 IS NULL THEN NULL ELSE (%1$s)::float8 END AS distance,
           f.score::float8 AS score, f.vector_rank::int AS vector_rank, f.text_rank::int AS text_rank
    FROM fused f JOIN %4$s c ON c.id = f.id
    WHERE $11::float8 IS NULL OR $1 IS NULL OR 1 - (%1$s) >= $11$q$,
    pgembed._distance_expr(p), from_sql, pgembed._chunk_key_expr(p.key_columns), p.chunk_table,
    p.chunk_table::text, p.text_search_config::text)
$$;

DROP FUNCTION pgembed._search_sql(pgembed.pipelines, text, text, text, text, text);
DROP FUNCTION pgembed._hybrid_fused_sql(pgembed.pipelines, text, text, text);
DROP FUNCTION pgembed._all_words_query(regconfig, text);
DROP FUNCTION pgembed._any_word_query(regconfig, text);

-- The statement of a search without group_by_document: vector ($1–$5 as in _vector_window_sql,
-- $6 min_score) or hybrid (the parameters of _hybrid_fused_sql). `declarations` (a CTE, for
-- pgembed._search_statement) goes first.
CREATE FUNCTION pgembed._search_sql(p pgembed.pipelines, kind text, from_sql text, declarations text DEFAULT NULL)
RETURNS text
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
      'WITH ' || declarations || ' ', pgembed._hybrid_fused_sql(p, from_sql))
  END
$$;

-- Whether a search scans nothing but the chunk table (no filter, no tenant): then the vector index
-- is the fastest plan at every size the benchmark measures, and the planner, which does not count
-- the TOAST reads of a sequential scan, must not choose Seq Scan + Sort instead.
CREATE FUNCTION pgembed._unfiltered(p pgembed.pipelines, from_sql text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT from_sql = format('FROM %s c WHERE true', p.chunk_table)
$$;

-- As in 0009, with a hybrid statement's full-text queries derived from $6 (the text) and $7
-- (text_match) inside the statement, and enable_seqscan in the settings: off for unfiltered
-- searches, the server's default otherwise.
CREATE OR REPLACE FUNCTION pgembed._search_statement(pipeline text, kind text, filter jsonb DEFAULT NULL, tenant text DEFAULT NULL,
  text_match text DEFAULT NULL, OUT statement text, OUT settings jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p pgembed.pipelines := pgembed._search_pipeline(pipeline);
  loaded vector := '[0]';  -- loads pgvector: its settings exist once it is loaded
  from_sql text;
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
  from_sql := pgembed._search_source(p, filter, tenant);
  statement := pgembed._search_sql(p, kind, from_sql,
    CASE kind
      WHEN 'vector' THEN 'parameters AS (SELECT $1::vector, $2::int, $3::jsonb, $4::jsonb, $5::text, $6::float8)'
      ELSE 'parameters AS (SELECT $1::vector, $2::int, $3::jsonb, $4::jsonb, $5::text, $6::text, $7::text, $8::float8,
                                  $9::float8, $10::float8, $11::float8, $12::int, $13::float8)' END);
  SELECT jsonb_object_agg(n, w) INTO settings
  FROM unnest(names, wanted) AS s(n, w) WHERE current_setting(n, true) IS NOT NULL;
  settings := coalesce(settings, '{}')
    || jsonb_build_object('enable_seqscan', CASE WHEN pgembed._unfiltered(p, from_sql) THEN 'off' END);
END
$$;

-- pgembed.search of 0009, with enable_seqscan off (SET LOCAL, restored) for unfiltered searches.
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
  seqscan text;
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
  IF pgembed._unfiltered(p, from_sql) THEN
    seqscan := current_setting('enable_seqscan');
    PERFORM set_config('enable_seqscan', 'off', true);
  END IF;
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
  IF seqscan IS NOT NULL THEN
    PERFORM set_config('enable_seqscan', seqscan, true);
  END IF;
  PERFORM pgembed._restore_search_settings(previous);
END
$$;

-- pgembed.hybrid_search of 0009: the statement derives its full-text queries from the text
-- (pgembed._all_words_query, pgembed._any_word_queries), and unfiltered searches run with enable_seqscan off (SET LOCAL, restored).
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
  previous text[];
  seqscan text;
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
  from_sql := pgembed._search_source(p, filter, tenant);
  previous := pgembed._apply_search_settings(p, ef_search);
  IF pgembed._unfiltered(p, from_sql) THEN
    seqscan := current_setting('enable_seqscan');
    PERFORM set_config('enable_seqscan', 'off', true);
  END IF;
  win := coalesce(candidates, greatest(k * 4, 40));

  -- $1 vector, $2 window, $3 metadata, $4 source, $5 tenant, $6 query text, $7 text_match,
  -- $8 rrf_k, $9 vector weight, $10 text weight, $11 min_score, $12 k, $13 fallback weight.
  fused_sql := pgembed._hybrid_fused_sql(p, from_sql);

  IF group_by_document THEN
    -- Widen both windows until the fused list holds k documents (or cannot grow).
    LOOP
      EXECUTE format('SELECT count(DISTINCT r.document_key) FROM (%s) r', fused_sql) INTO ndocs
        USING query_embedding, win, filter->'metadata', filter->'source', tenant, query_text, text_match, rrf_k::float8,
              vector_weight, text_weight, min_score, k, fallback_weight;
      EXIT WHEN ndocs >= k OR win >= 10000;
      win := least(win * 4, 10000);
    END LOOP;
    RETURN QUERY EXECUTE format(
      'SELECT * FROM (SELECT DISTINCT ON (r.document_key) * FROM (%s) r ORDER BY r.document_key, r.score DESC, r.chunk_id) best
       ORDER BY best.score DESC, best.chunk_id LIMIT $12', fused_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, query_text, text_match, rrf_k::float8,
            vector_weight, text_weight, min_score, k, fallback_weight;
  ELSE
    RETURN QUERY EXECUTE pgembed._search_sql(p, 'hybrid', from_sql)
      USING query_embedding, win, filter->'metadata', filter->'source', tenant, query_text, text_match, rrf_k::float8,
            vector_weight, text_weight, min_score, k, fallback_weight;
  END IF;
  IF seqscan IS NOT NULL THEN
    PERFORM set_config('enable_seqscan', seqscan, true);
  END IF;
  PERFORM pgembed._restore_search_settings(previous);
END
$$;

-- Existing chunk tables get the column (PostgreSQL rewrites the table and rebuilds its indexes:
-- measured in docs/search.md) and, when their indexes are live, the GIN index on it instead of the
-- expression index. The expression index is dropped first, so the rewrite does not rebuild it.
-- Parallel workers for the rebuilt HNSW index as in 0011.
DO $$
DECLARE
  p pgembed.pipelines;
  old regclass;
  workers int := current_setting('max_parallel_maintenance_workers')::int;
  own_setting boolean;
BEGIN
  FOR p IN SELECT * FROM pgembed.pipelines WHERE to_regclass(chunk_table::text) IS NOT NULL ORDER BY name LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p.chunk_table AND attname = 'content_tsv' AND NOT attisdropped);
    FOR old IN
      SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = p.chunk_table AND am.amname = 'gin' AND pg_get_indexdef(i.indexrelid) LIKE '%to_tsvector(%'
    LOOP
      EXECUTE format('DROP INDEX %s', old);
    END LOOP;
    SELECT EXISTS (SELECT 1 FROM pg_class c, pg_options_to_table(c.reloptions) o
                   WHERE c.oid = p.chunk_table AND o.option_name = 'parallel_workers')
    INTO own_setting;
    IF workers > 0 AND NOT own_setting THEN
      EXECUTE format('ALTER TABLE %s SET (parallel_workers = %s)', p.chunk_table, workers);
    END IF;
    EXECUTE format('ALTER TABLE %s ADD COLUMN %s', p.chunk_table, pgembed._text_column_sql(p.text_search_config));
    IF workers > 0 AND NOT own_setting THEN
      EXECUTE format('ALTER TABLE %s RESET (parallel_workers)', p.chunk_table);
    END IF;
    IF p.index_state = 'live' THEN
      EXECUTE format('CREATE INDEX ON %s USING gin (content_tsv)', p.chunk_table);
    END IF;
  END LOOP;
END
$$;
