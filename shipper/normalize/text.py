"""Prompt and completion text out of the shapes LLM logs carry them in.

Chat messages (OpenAI style `{"role", "content"}`, content as a string or a list of parts), OpenTelemetry
GenAI messages (`{"role", "parts": [{"type": "text", "content"}]}`), OpenAI responses (`choices`), or
plain strings. One message gives its bare content; several give one `role: content` line each, so the
text an analyst reads (and its length and hash) follows the conversation. Tool calls appear as
`tool_call name(arguments)`, since injected instructions often arrive through them.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 6


def _parts_text(parts: list[Any], depth: int) -> str:
    texts: list[str] = []
    for part in parts:
        if part.__class__ is str:
            texts.append(part)
        elif part.__class__ is dict:
            text = part.get("text")
            if text is None:
                text = part.get("content")
            if text.__class__ is str:
                texts.append(text)
            elif text is not None and depth < _MAX_DEPTH:
                nested = content_text(text, depth + 1)
                if nested:
                    texts.append(nested)
            elif part.get("type") == "tool_call" and part.get("name").__class__ is str:
                texts.append(f"tool_call {part['name']}({_arguments(part.get('arguments'))})")
    return "\n".join(texts)


def _arguments(value: Any) -> str:
    if value.__class__ is str:
        return value
    return "" if value is None else str(value)


def content_text(value: Any, depth: int = 0) -> str | None:
    """The text of one message's content (string, list of parts, or nested object)."""
    if value.__class__ is str:
        return value
    if depth >= _MAX_DEPTH:
        return None
    if value.__class__ is list:
        return _parts_text(value, depth)
    if value.__class__ is dict:
        return message_text(value, depth + 1)
    return None


def _message_line(message: dict[str, Any], depth: int) -> tuple[str | None, str | None]:
    role = message.get("role")
    role = role if role.__class__ is str else None
    content = message.get("content")
    if content is None:
        content = message.get("parts")
    if content is None and message.get("message").__class__ is dict:  # an OpenAI choice
        return _message_line(message["message"], depth + 1)
    text = content_text(content, depth + 1) if content is not None else None
    if text is None and message.get("text").__class__ is str:  # a text completion choice
        text = message["text"]
    calls = message.get("tool_calls")
    if calls.__class__ is list:
        rendered = [
            f"tool_call {call['function'].get('name')}({_arguments(call['function'].get('arguments'))})"
            for call in calls
            if call.__class__ is dict and call.get("function").__class__ is dict
        ]
        if rendered:
            text = "\n".join(([text] if text else []) + rendered)
    return role, text


def message_text(value: Any, depth: int = 0) -> str | None:
    """The text of a prompt or completion in any of the shapes above; None when there is none."""
    if value is None or depth > _MAX_DEPTH:
        return None
    if value.__class__ is str:
        return value
    if value.__class__ is dict:
        for key in ("messages", "choices"):
            inner = value.get(key)
            if inner.__class__ is list:
                return message_text(inner, depth + 1)
        if "content" in value or "parts" in value or "message" in value or "text" in value:
            return _message_line(value, depth)[1]
        return None
    if value.__class__ is list:
        lines: list[tuple[str | None, str]] = []
        for item in value:
            if item.__class__ is dict:
                role, text = _message_line(item, depth)
            elif item.__class__ is str:
                role, text = None, item
            else:
                continue
            if text is not None:
                lines.append((role, text))
        if not lines:
            return None
        if len(lines) == 1:
            return lines[0][1]
        return "\n".join(f"{role}: {text}" if role else text for role, text in lines)
    return None


def finish_reasons(choices: Any) -> list[str] | None:
    """The `finish_reason` of each choice of an OpenAI-style response (None when there is none)."""
    if choices.__class__ is not list:
        return None
    reasons = [
        c["finish_reason"] for c in choices if c.__class__ is dict and c.get("finish_reason").__class__ is str
    ]
    return reasons or None
