-- Providers: azure-openai, ollama, voyage (and the anthropic alias that explains it), cohere; pausing
-- and resuming pipelines on configuration errors; per-pipeline provider options; test_provider().

-- Providers this version of the worker implements, with their default model. `anthropic` is accepted
-- so that whoever tries it learns what to use instead.
CREATE OR REPLACE FUNCTION pgembed._default_model(provider text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF provider = 'anthropic' THEN
    RAISE EXCEPTION 'pgembed: Anthropic has no embeddings API; Anthropic recommends Voyage AI for embeddings'
      USING HINT = 'use provider => ''voyage'' (model ''voyage-3.5'', or ''voyage-code-3'' for code) with a key from https://dash.voyageai.com exported in the worker''s environment, e.g. api_key_env => ''VOYAGE_API_KEY''';
  END IF;
  IF provider IS NOT NULL AND NOT provider = ANY (ARRAY['local', 'hash', 'openai', 'azure-openai', 'ollama', 'voyage', 'cohere']) THEN
    -- Raised here so the hint lists every provider (enable_document_chunking's own lists only 0002's).
    RAISE EXCEPTION 'pgembed: unknown provider "%"', provider
      USING HINT = 'available: local, openai, azure-openai, ollama, voyage, cohere, hash (tests only)';
  END IF;
  RETURN CASE provider
    WHEN 'local' THEN 'all-MiniLM-L6-v2'
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

-- max_input_tokens is the model's context. For voyage, cohere and ollama models chunks are sized in
-- cl100k_base tokens (an estimate of their tokenizers), so leave headroom below it.
INSERT INTO pgembed.models (provider, model, dimensions, max_input_tokens, flexible_dimensions) VALUES
  ('azure-openai', 'text-embedding-3-small', 1536, 8192, true),
  ('azure-openai', 'text-embedding-3-large', 3072, 8192, true),
  ('azure-openai', 'text-embedding-ada-002', 1536, 8192, false),
  ('ollama', 'nomic-embed-text', 768, 8192, false),
  ('ollama', 'mxbai-embed-large', 1024, 512, false),
  ('ollama', 'all-minilm', 384, 256, false),
  ('ollama', 'snowflake-arctic-embed', 1024, 512, false),
  ('ollama', 'bge-m3', 1024, 8192, false),
  ('voyage', 'voyage-3.5', 1024, 32000, true),
  ('voyage', 'voyage-3.5-lite', 1024, 32000, true),
  ('voyage', 'voyage-3-large', 1024, 32000, true),
  ('voyage', 'voyage-code-3', 1024, 32000, true),
  ('voyage', 'voyage-3', 1024, 32000, false),
  ('voyage', 'voyage-3-lite', 512, 32000, false),
  ('voyage', 'voyage-finance-2', 1024, 32000, false),
  ('voyage', 'voyage-law-2', 1024, 16000, false),
  ('voyage', 'voyage-multilingual-2', 1024, 32000, false),
  ('cohere', 'embed-v4.0', 1536, 128000, true),
  ('cohere', 'embed-english-v3.0', 1024, 512, false),
  ('cohere', 'embed-multilingual-v3.0', 1024, 512, false),
  ('cohere', 'embed-english-light-v3.0', 384, 512, false),
  ('cohere', 'embed-multilingual-light-v3.0', 384, 512, false)
ON CONFLICT (provider, model) DO NOTHING;

-- A pipeline paused by a configuration error (rejected or missing key, unknown model or deployment)
-- goes back to work. Its jobs were kept, uncharged. Returns the number of jobs waiting.
CREATE FUNCTION pgembed.resume_pipeline(pipeline_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  p pgembed.pipelines;
  n bigint;
BEGIN
  SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = pipeline_name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name
      USING HINT = 'SELECT pipeline, status, status_message FROM pgembed.queue_status lists the pipelines';
  END IF;
  IF p.status = 'disabled' THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" is disabled, not paused', pipeline_name
      USING HINT = 'a disabled pipeline has no triggers; declare it again with pgembed.enable_document_chunking';
  END IF;
  UPDATE pgembed.pipelines x SET status = 'active', status_message = NULL WHERE x.name = p.name;
  -- Jobs were requeued due now while paused; make sure none waits on an old backoff.
  UPDATE pgembed.queue q SET run_at = now() WHERE q.pipeline = p.name AND q.status = 'pending' AND q.run_at > now();
  SELECT count(*) INTO n FROM pgembed.queue q WHERE q.pipeline = p.name AND q.status = 'pending';
  PERFORM pg_notify('pgembed_wake', p.name);
  RETURN n;
END
$$;

-- Provider settings a pipeline stores beyond base_url and api_key_env: pacing and per-provider
-- options. Merged into provider_options; a key set to null is removed. Returns the new options.
-- Workers pick the change up within seconds (they re-read pipelines every 5 s).
CREATE FUNCTION pgembed.set_provider_options(pipeline_name text, options jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  allowed text[] := ARRAY['base_url', 'api_key_env', 'timeout_ms', 'requests_per_minute', 'tokens_per_minute',
                          'max_concurrency', 'api_version', 'keep_alive'];
  k text;
  v jsonb;
  merged jsonb;
BEGIN
  IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'pgembed: options must be a JSON object, e.g. ''{"requests_per_minute": 3000}''';
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(options) LOOP
    IF NOT k = ANY (allowed) THEN
      RAISE EXCEPTION 'pgembed: unknown provider option "%"', k
        USING HINT = 'known options: ' || array_to_string(allowed, ', ');
    END IF;
    CONTINUE WHEN jsonb_typeof(v) = 'null';
    IF k IN ('timeout_ms', 'requests_per_minute', 'tokens_per_minute', 'max_concurrency')
       AND (jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric) OR (v #>> '{}')::numeric < 1) THEN
      RAISE EXCEPTION 'pgembed: provider option % must be a positive integer (got %)', k, v;
    END IF;
    IF k IN ('base_url', 'api_key_env', 'api_version', 'keep_alive') AND jsonb_typeof(v) <> 'string' THEN
      RAISE EXCEPTION 'pgembed: provider option % must be a string (got %)', k, v;
    END IF;
    IF k = 'api_key_env' AND (v #>> '{}') !~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN
      RAISE EXCEPTION 'pgembed: api_key_env must be the NAME of an environment variable (letters, digits, _)'
        USING HINT = 'keys are never stored in the database: export the key in the worker''s environment and pass its variable name';
    END IF;
    IF k = 'base_url' AND (v #>> '{}') !~ '^https?://' THEN
      RAISE EXCEPTION 'pgembed: base_url must start with http:// or https://';
    END IF;
  END LOOP;
  UPDATE pgembed.pipelines x
  SET provider_options = jsonb_strip_nulls(x.provider_options || options)
  WHERE x.name = pipeline_name
  RETURNING x.provider_options INTO merged;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name
      USING HINT = 'SELECT name FROM pgembed.pipelines lists the pipelines';
  END IF;
  RETURN merged;
END
$$;

-- test_provider(): a request must reach a worker while the calling transaction is still open, and a
-- NOTIFY or a row would only be visible after it commits. A sequence is the one thing every session
-- sees at once, so the request is a nextval() that workers poll; the answer is a row a worker commits,
-- which the caller's next statement sees (READ COMMITTED takes a snapshot per statement).
CREATE SEQUENCE pgembed.provider_test_requests;

CREATE TABLE pgembed.provider_test_results (
  request_id bigint NOT NULL,
  pipeline text NOT NULL,
  worker_id text NOT NULL,
  result jsonb NOT NULL,
  answered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, pipeline)
);

-- Asks a live worker to embed a probe text with the pipeline's provider. Returns provider, model,
-- dimensions, latency and whether the dimensions match the chunk table; raises when no worker
-- answers within `timeout`. Needs a PostgreSQL server: on the embedded database (one connection)
-- use `pgembed doctor`.
CREATE FUNCTION pgembed.test_provider(pipeline_name text DEFAULT NULL, timeout interval DEFAULT '15 seconds')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  p pgembed.pipelines;
  n int;
  request bigint;
  deadline timestamptz;
  answer jsonb;
BEGIN
  IF pipeline_name IS NULL THEN
    SELECT count(*) INTO n FROM pgembed.pipelines WHERE status <> 'disabled';
    IF n <> 1 THEN
      RAISE EXCEPTION 'pgembed: there are % pipelines; name one', n
        USING HINT = 'SELECT pgembed.test_provider(''my_pipeline'')';
    END IF;
    SELECT * INTO p FROM pgembed.pipelines WHERE status <> 'disabled';
  ELSE
    SELECT * INTO p FROM pgembed.pipelines x WHERE x.name = pipeline_name;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'pgembed: pipeline "%" does not exist', pipeline_name
        USING HINT = 'SELECT name FROM pgembed.pipelines lists the pipelines';
    END IF;
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'pgembed: test_provider() must run in a READ COMMITTED transaction (this one is %)',
      current_setting('transaction_isolation')
      USING HINT = 'it waits for a row committed by a worker, which a REPEATABLE READ snapshot never shows';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pgembed.workers w
                 WHERE w.last_heartbeat > now() - interval '2 minutes'
                   AND (w.pipelines IS NULL OR p.name = ANY (w.pipelines))) THEN
    RAISE EXCEPTION 'pgembed: no live worker serves pipeline "%"', p.name
      USING HINT = 'start one with `pgembed worker` (the test is answered by a worker, with its environment and network)';
  END IF;
  request := nextval('pgembed.provider_test_requests');
  deadline := clock_timestamp() + timeout;
  LOOP
    SELECT r.result INTO answer FROM pgembed.provider_test_results r
    WHERE r.request_id = request AND r.pipeline = p.name;
    EXIT WHEN answer IS NOT NULL;
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'pgembed: no worker answered the provider test for pipeline "%" within %', p.name, timeout
        USING HINT = 'workers look for tests every second; check `pgembed status` for live workers, or run `pgembed doctor`';
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  DELETE FROM pgembed.provider_test_results r WHERE r.request_id = request;
  RETURN answer;
END
$$;
