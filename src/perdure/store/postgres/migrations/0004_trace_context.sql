-- Tracing: the W3C traceparent an activity task's spans descend from (NULL
-- when tracing is off). The instance's own trace context travels in its
-- ExecutionStarted event.
ALTER TABLE tasks ADD COLUMN trace_parent text;
