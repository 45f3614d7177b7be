"""ECS document building shared by every input format: ids, values, redaction, content policy, features.

`shipper.normalizer.Normalizer` is the entry point; the formats (`shipper.formats`) build their
documents with `document.RecordContext` and the coercing setters in `put`.
"""
