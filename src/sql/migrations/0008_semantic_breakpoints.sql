-- Semantic breakpoints by embedding similarity: the chunk options breakpoints and breakpoint_percentile.

-- Validates per-pipeline strategy options and returns them normalized. Known keys:
--   context (boolean): title and heading path ahead of each chunk for the embedder; default true for
--     markdown, false otherwise;
--   heading_separator (text): between headings in that context, default ' > ';
--   locale (text): BCP 47 locale for sentence segmentation;
--   title_column (name): a text column of the source table holding the document's title;
--   breakpoints (text, semantic only): 'boundaries' (default: paragraph, line and sentence ends) or
--     'embedding' (also where the embeddings of neighbouring sentences drift apart; the worker embeds
--     every sentence of a document with the pipeline's provider before chunking it);
--   breakpoint_percentile (number, with breakpoints 'embedding'): a break goes where the distance
--     between neighbouring sentences is above this percentile of the document's distances; default 95.
-- That the last two go with the semantic strategy only is checked on the stored row
-- (pgembed._check_chunk_breakpoints), where the strategy is known.
CREATE OR REPLACE FUNCTION pgembed._chunk_options(document_table regclass, options jsonb, internal boolean DEFAULT false)
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
    IF k NOT IN ('context', 'heading_separator', 'locale', 'title_column', 'levels', 'breakpoints', 'breakpoint_percentile')
       AND NOT (k = 'sections_table' AND internal) THEN
      RAISE EXCEPTION 'pgembed: unknown chunk option "%"', k
        USING HINT = 'known options: context, heading_separator, locale, title_column, breakpoints, breakpoint_percentile';
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
  IF out ? 'breakpoints' AND (jsonb_typeof(out->'breakpoints') <> 'string' OR out->>'breakpoints' NOT IN ('boundaries', 'embedding')) THEN
    RAISE EXCEPTION 'pgembed: chunk option breakpoints must be "boundaries" or "embedding" (got %)', out->'breakpoints'
      USING HINT = '"embedding" also breaks where neighbouring sentences'' embeddings drift apart, e.g. chunk_options => ''{"breakpoints": "embedding"}''';
  END IF;
  IF out ? 'breakpoint_percentile' THEN
    IF coalesce(out->>'breakpoints', 'boundaries') <> 'embedding' THEN
      RAISE EXCEPTION 'pgembed: chunk option breakpoint_percentile goes with "breakpoints": "embedding"'
        USING HINT = 'e.g. chunk_options => ''{"breakpoints": "embedding", "breakpoint_percentile": 90}''';
    END IF;
    IF jsonb_typeof(out->'breakpoint_percentile') <> 'number'
       OR (out->>'breakpoint_percentile')::numeric <= 0 OR (out->>'breakpoint_percentile')::numeric >= 100 THEN
      RAISE EXCEPTION 'pgembed: chunk option breakpoint_percentile must be a number greater than 0 and less than 100 (got %)', out->'breakpoint_percentile'
        USING HINT = 'the default is 95: a break at the 5 % largest drops in similarity between neighbouring sentences';
    END IF;
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

-- Breakpoint options belong to the semantic strategy. Checked on the rows pipelines and documents'
-- own settings are stored in, where the strategy and the options meet: enable_document_chunking,
-- enable_hierarchical_chunking and rechunk_document all end up here. rechunk_document with another
-- strategy and no chunk_options keeps the pipeline's options, so it is refused too, with a hint.
CREATE FUNCTION pgembed._check_chunk_breakpoints() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.chunk_strategy <> 'semantic' AND NEW.chunk_options ?| ARRAY['breakpoints', 'breakpoint_percentile'] THEN
    RAISE EXCEPTION 'pgembed: chunk options breakpoints and breakpoint_percentile apply to the semantic strategy only, not to "%"', NEW.chunk_strategy
      USING HINT = CASE WHEN TG_TABLE_NAME = 'chunk_overrides'
                        THEN 'the pipeline''s chunk_options have them: re-chunk with chunk_options => ''{}'' (or the options you want) to use another strategy'
                        ELSE 'use chunk_strategy => ''semantic'', or leave these options out' END;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER check_chunk_breakpoints BEFORE INSERT OR UPDATE OF chunk_strategy, chunk_options ON pgembed.pipelines
FOR EACH ROW EXECUTE FUNCTION pgembed._check_chunk_breakpoints();

CREATE TRIGGER check_chunk_breakpoints BEFORE INSERT OR UPDATE OF chunk_strategy, chunk_options ON pgembed.chunk_overrides
FOR EACH ROW EXECUTE FUNCTION pgembed._check_chunk_breakpoints();
