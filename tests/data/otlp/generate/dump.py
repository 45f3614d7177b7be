"""Encode finished spans / log records with the official OTLP encoder, as OTLP/JSON lines."""

import base64

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans


def _hex(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str) and v:
                node[k] = base64.b64decode(v).hex()
            else:
                _hex(v)
    elif isinstance(node, list):
        for x in node:
            _hex(x)
    return node


def spans_json(spans, collector=True):
    d = MessageToDict(encode_spans(spans), use_integers_for_enums=collector)
    return _hex(d) if collector else d


def logs_json(logs, collector=True):
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

    d = MessageToDict(encode_logs(logs), use_integers_for_enums=collector)
    return _hex(d) if collector else d
