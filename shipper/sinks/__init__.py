"""Where events go: the engine (OpenSearch or Elasticsearch bulk), an ECS NDJSON file, a fluent peer."""
