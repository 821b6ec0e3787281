-- The parent sections of many chunks at once: what search(…, { parents: true }) adds to its hits.

-- chunk_parent (0003) for a list of chunks, in one query: one row per chunk that has a section.
CREATE FUNCTION pgembed.chunk_parents(pipeline_name text, chunk_ids bigint[])
RETURNS TABLE (chunk_id bigint, section_index int, content text, token_count int, start_char int, end_char int,
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
    'SELECT c.id, s.section_index, s.content, s.token_count, s.start_char, s.end_char, s.heading_path, s.context
     FROM %s c JOIN %s s ON %s AND s.section_index = c.parent_index
     WHERE c.id = ANY ($1)',
    p.chunk_table, p.chunk_options->>'sections_table',
    (SELECT string_agg(format('s.%I = c.%I', 'doc_' || k, 'doc_' || k), ' AND ') FROM unnest(p.key_columns) k))
  USING chunk_ids;
END
$$;
