-- The parent sections of many chunks at once: what search(…, { parents: true }) adds to its hits.

-- The parent sections of a list of chunks, in one query: one row per chunk that has a section.
CREATE FUNCTION pgembed.chunk_parents(pipeline_name text, chunk_ids bigint[])
RETURNS TABLE (chunk_id bigint, section_index int, content text, token_count int, start_char int, end_char int,
               heading_path text[], context text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p pgembed.pipelines := pgembed._search_pipeline(pipeline_name);
BEGIN
  IF NOT p.chunk_options ? 'sections_table' THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT c.id, s.section_index, s.content, s.token_count, s.start_char, s.end_char, s.heading_path, s.context
     FROM %s c JOIN %s s ON %s AND s.section_index = c.parent_index
     WHERE c.id = ANY ($1)',
    p.chunk_table, p.chunk_options->>'sections_table',
    (SELECT string_agg(format('s.%I = c.%I', 'doc_' || k, 'doc_' || k), ' AND ') FROM unnest(p.key_columns) k))
  USING chunk_ids;
END
$$;

-- chunk_parent (0003) becomes the one-chunk case of chunk_parents: one query to keep right.
CREATE OR REPLACE FUNCTION pgembed.chunk_parent(pipeline_name text, chunk_id bigint)
RETURNS TABLE (section_index int, content text, token_count int, start_char int, end_char int,
               heading_path text[], context text)
LANGUAGE sql STABLE AS $$
  SELECT p.section_index, p.content, p.token_count, p.start_char, p.end_char, p.heading_path, p.context
  FROM pgembed.chunk_parents(pipeline_name, ARRAY[chunk_id]) p
$$;
