"""The ecs format: documents another mlsiem shipper already normalized, relayed to this one.

An edge shipper with `--output fluent://aggregator:24224` sends finished ECS documents; the aggregator
(`mlsiem ship --input forward`) recognizes them by `ecs.version` and an `event.dataset` of
`mlsiem.inference` or `mlsiem.pipeline` and passes them through instead of dead-lettering them as an
unknown format. What the relay keeps and what it decides:

- the document as it arrived, checked against its ECS model (a document that does not validate is
  rejected with the model's first problems), with its `event.id`: the same id at the edge and at the
  aggregator, so a message the forward protocol delivers twice is still one document;
- the edge's `mlsiem.source.format`, `log.file.path` and `mlsiem.log.offset` (where the record was
  really read);
- this shipper's namespace (`data_stream.namespace`) and content policy: a stricter policy here
  redacts, hashes or drops prompt and completion text the edge kept and redacts `event.original` and
  error messages (length and sha256 stay the edge's, which saw the original text).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import ValidationError

from mlsiem.ecs import DOCUMENT_MODELS
from shipper.normalize.document import Draft, RecordContext, RecordError
from shipper.normalize.redaction import redact
from shipper.records import EventKind

DATASETS: Final[dict[str, EventKind]] = {"mlsiem.inference": "inference", "mlsiem.pipeline": "pipeline"}


def claims(record: dict[str, Any]) -> bool:
    """Whether a record is a relayed mlsiem document (auto detection; by keys only)."""
    event = record.get("event")
    dataset = event.get("dataset") if isinstance(event, dict) else None
    return "ecs" in record and isinstance(dataset, str) and dataset in DATASETS


def convert(record: dict[str, Any], ctx: RecordContext) -> list[Draft]:
    event = record.get("event")
    dataset = event.get("dataset") if isinstance(event, dict) else None
    kind = DATASETS.get(dataset) if isinstance(dataset, str) else None
    if not isinstance(event, dict) or kind is None:
        raise RecordError(f"`event.dataset` must be one of {', '.join(DATASETS)}; got {str(dataset)[:40]!r}")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise RecordError("a relayed document needs its `event.id` (the edge shipper sets it)")
    try:
        DOCUMENT_MODELS[kind].model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)[:3]
        )
        raise RecordError(f"not a valid mlsiem {kind} document: {problems}") from None
    document = dict(record)  # shallow copies of what changes: an SDK caller's dict stays as it was
    stream = record.get("data_stream")
    stream = stream if isinstance(stream, dict) else {"type": "logs", "dataset": dataset}
    document["data_stream"] = {**stream, "namespace": ctx.namespace}
    document["event"] = dict(event)
    if isinstance(record.get("labels"), dict):
        document["labels"] = dict(record["labels"])
    _apply_policy(document, ctx.content_policy)
    return [Draft(kind, event_id, document)]


def _apply_policy(document: dict[str, Any], policy: str) -> None:
    """This shipper's content policy over text the edge kept (only ever stricter: text cannot return)."""
    if policy == "full":
        return
    mlsiem = document.get("mlsiem")
    if isinstance(mlsiem, dict) and isinstance(mlsiem.get("llm"), dict):
        llm = dict(mlsiem["llm"])
        document["mlsiem"] = {**mlsiem, "llm": llm}
        for name in ("prompt", "completion"):
            text = llm.get(name)
            if isinstance(text, str) and policy == "redacted":
                llm[name] = redact(text)
            elif text is not None and policy != "redacted":
                del llm[name]
        if policy == "none":
            llm.pop("prompt_length", None)
            llm.pop("prompt_sha256", None)
    event = document["event"]
    if isinstance(event.get("original"), str):  # redacted under every policy but full, as we keep ours
        event["original"] = redact(event["original"])
    error = document.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        document["error"] = {**error, "message": redact(error["message"])}
