-- Steps of a request stored with the request, as a JSON array: one row per request,
-- written in multi-row batches. Rows written before keep their steps in `attempts`.
ALTER TABLE requests ADD COLUMN steps TEXT;
