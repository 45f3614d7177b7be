"""Kibana and OpenSearch Dashboards saved objects: the spec, their rendering, and their import.

`dashboards/spec.yaml` (top-level folder, next to the generated NDJSON files) describes every data
view, visualization, saved search and dashboard once; `render` writes both flavors from it,
`search_request` turns each visualization into the search its app would send (tests run those on a
real engine), and `importer` loads the files through the apps' saved-objects import API.
"""
