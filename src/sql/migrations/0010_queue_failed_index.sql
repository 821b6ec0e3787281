-- Write-back clears a document's failed job once the document is embedded (src/sql/queries/writeBack.ts):
-- without an index for failed jobs that DELETE scanned the whole queue once per batch. Failed jobs
-- are few, so the partial index is small.
CREATE INDEX queue_failed_key ON pgembed.queue (pipeline, doc_key) WHERE status = 'failed';
