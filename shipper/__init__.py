"""The shipper: sources -> formats -> ECS normalization -> sinks (OpenSearch/Elasticsearch, file, fluent).

`config.ShipperConfig` describes a shipper; `build.build` assembles its pipeline (the one place)."""
