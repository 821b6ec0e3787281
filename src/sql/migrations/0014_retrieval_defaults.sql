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
