-- pgembed's tables. Applied by migrate() in one transaction that also records it in
-- pgembed.migrations (created by the runner).

CREATE EXTENSION IF NOT EXISTS vector;

-- Facts about the models pgembed knows, used to default dimensions and chunk sizes.
-- max_input_tokens is what the model reads before it silently truncates (all-MiniLM-L6-v2: 256
-- word pieces including [CLS] and [SEP]; OpenAI: 8,192 tokens).
CREATE TABLE pgembed.models (
  provider text NOT NULL,
  model text NOT NULL,
  dimensions int NOT NULL,
  max_input_tokens int NOT NULL,
  -- Whether the API can shorten vectors on request (OpenAI text-embedding-3 `dimensions`).
  flexible_dimensions boolean NOT NULL DEFAULT false,
  PRIMARY KEY (provider, model)
);

INSERT INTO pgembed.models (provider, model, dimensions, max_input_tokens, flexible_dimensions) VALUES
  ('local', 'all-MiniLM-L6-v2', 384, 254, false),
  ('hash', 'hash-v1', 768, 8192, true),
  ('openai', 'text-embedding-3-small', 1536, 8192, true),
  ('openai', 'text-embedding-3-large', 3072, 8192, true),
  ('openai', 'text-embedding-ada-002', 1536, 8192, false);

-- One row per pipeline: which table and column feed which chunk table, how, with which model.
CREATE TABLE pgembed.pipelines (
  id int GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text PRIMARY KEY,
  source_table regclass NOT NULL,
  content_column name NOT NULL,
  key_columns name[] NOT NULL,
  key_types text[] NOT NULL,
  chunk_table regclass NOT NULL,
  chunk_strategy text NOT NULL,
  chunk_size int NOT NULL,
  chunk_overlap int NOT NULL,
  chunk_options jsonb NOT NULL DEFAULT '{}',
  provider text NOT NULL,
  model text NOT NULL,
  dimensions int NOT NULL,
  -- Connection settings for the provider. Never a key: at most the *name* of the environment
  -- variable that holds it (api_key_env).
  provider_options jsonb NOT NULL DEFAULT '{}',
  index_type text NOT NULL,
  -- 'deferred': a large backfill writes without vector/full-text indexes, built once it drains.
  index_state text NOT NULL CHECK (index_state IN ('live', 'deferred')),
  text_search_config regconfig NOT NULL,
  max_attempts int NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
  status_message text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Wake-up flag per pipeline. Writers' triggers NOTIFY only while a worker has armed it (that is,
-- is idle and waiting), because a NOTIFY in every writing transaction serialises their commits.
CREATE TABLE pgembed.wakeups (
  pipeline text PRIMARY KEY,
  armed boolean NOT NULL DEFAULT true
);
GRANT SELECT ON pgembed.wakeups TO PUBLIC;

-- The job queue: one row per document key that must be reconciled with its chunks.
-- No foreign key to pipelines on purpose: its check would lock the pipeline row in every
-- writer's transaction.
CREATE TABLE pgembed.queue (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline text NOT NULL,
  doc_key jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  lease uuid,
  leased_until timestamptz,
  worker_id text,
  last_error text,
  last_error_code text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Writers' triggers append here and nowhere else: no index, no constraint, so a writing
-- transaction pays one heap insert (a unique index with ON CONFLICT measured 18 % of single-row
-- insert throughput, the plain append 9 %). Workers move committed entries into pgembed.queue,
-- deduplicating there, before they claim; only committed changes can be moved, so a pending job
-- can never absorb a change it will not see.
CREATE TABLE pgembed.queue_log (
  pipeline text NOT NULL,
  doc_key jsonb NOT NULL
);

-- Writers' triggers run as the writer (see _create_triggers): every role may append to the log
-- and read the wake-up flags, nothing more.
GRANT USAGE ON SCHEMA pgembed TO PUBLIC;
GRANT INSERT ON pgembed.queue_log TO PUBLIC;

-- At most one pending job per document: moving a key already pending does nothing.
CREATE UNIQUE INDEX queue_pending_key ON pgembed.queue (pipeline, doc_key) WHERE status = 'pending';
CREATE INDEX queue_claim ON pgembed.queue (pipeline, run_at) WHERE status = 'pending';
CREATE INDEX queue_leases ON pgembed.queue (leased_until) WHERE status = 'processing';

-- Workers announce themselves and beat every few seconds.
CREATE TABLE pgembed.workers (
  id text PRIMARY KEY,
  hostname text NOT NULL,
  pid int NOT NULL,
  pipelines text[],
  started_at timestamptz NOT NULL DEFAULT now(),
  last_heartbeat timestamptz NOT NULL DEFAULT now(),
  stats jsonb NOT NULL DEFAULT '{}'
);

-- Every failure, with the provider's error text (never a key or a document's content).
CREATE TABLE pgembed.errors (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline text NOT NULL,
  doc_key jsonb,
  worker_id text,
  code text,
  message text NOT NULL,
  attempt int,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX errors_created_at ON pgembed.errors (created_at);

CREATE VIEW pgembed.queue_status AS
SELECT
  p.name AS pipeline,
  p.status,
  p.status_message,
  p.index_state,
  coalesce(q.pending, 0) + coalesce(l.logged, 0) AS pending,
  coalesce(q.processing, 0) AS processing,
  coalesce(q.failed, 0) AS failed,
  q.oldest_pending_at,
  q.next_run_at
FROM pgembed.pipelines p
LEFT JOIN (
  SELECT
    pipeline,
    count(*) FILTER (WHERE status = 'pending') AS pending,
    count(*) FILTER (WHERE status = 'processing') AS processing,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending_at,
    min(run_at) FILTER (WHERE status = 'pending') AS next_run_at
  FROM pgembed.queue
  GROUP BY pipeline
) q ON q.pipeline = p.name
LEFT JOIN (
  SELECT pipeline, count(*) AS logged FROM pgembed.queue_log GROUP BY pipeline
) l ON l.pipeline = p.name;

