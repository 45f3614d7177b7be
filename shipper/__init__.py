"""The shipper: sources -> formats -> ECS normalization -> sinks (OpenSearch/Elasticsearch, file, fluent)."""
