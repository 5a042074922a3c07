"""Format checks for one chat fine-tuning example, as OpenAI's cookbook does them, plus tool calls and weights.

The cookbook's error names are kept (``data_type``, ``missing_messages_list``,
``message_missing_key``, ``message_unrecognized_key``, ``unrecognized_role``,
``missing_content``, ``example_missing_assistant_message``) so counts compare with its
script. Unlike the script, every problem is reported with its line and field, and
tool calls (``tool_calls``, ``tool`` messages), content parts and per-message
``weight`` are understood instead of being flagged or crashing.
"""

from __future__ import annotations

from typing import Any

from tunewise.data._problems import Problem

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"})
EXAMPLE_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
_PART_TYPES = frozenset({"text", "image_url"})
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _content_ok(content: Any) -> bool:
    """A non-empty string, or a non-empty list of text/image parts."""
    if isinstance(content, str):
        return bool(content)
    if not isinstance(content, list) or not content:
        return False
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in _PART_TYPES:
            return False
        if kind == "text" and not isinstance(part.get("text"), str):
            return False
        if kind == "image_url" and not isinstance(part.get("image_url"), dict):
            return False
    return True


def _check_tool_calls(calls: Any, field: str, add: Any) -> None:
    if not isinstance(calls, list) or not calls:
        add("invalid_tool_calls", f"tool_calls must be a non-empty list, got {_describe(calls)}", field)
        return
    for j, call in enumerate(calls):
        where = f"{field}[{j}]"
        if not isinstance(call, dict):
            add("invalid_tool_calls", f"a tool call must be an object, got {_describe(call)}", where)
            continue
        function = call.get("function")
        if not isinstance(call.get("id"), str):
            add("invalid_tool_calls", "tool call needs a string id", f"{where}.id")
        if call.get("type", "function") != "function":
            add("invalid_tool_calls", f"tool call type must be 'function', got {call.get('type')!r}", f"{where}.type")
        if not isinstance(function, dict):
            add("invalid_tool_calls", "tool call needs a function object", f"{where}.function")
            continue
        if not isinstance(function.get("name"), str) or not function.get("name"):
            add("invalid_tool_calls", "function needs a name", f"{where}.function.name")
        if not isinstance(function.get("arguments"), str):
            add("invalid_tool_calls", "function arguments must be a JSON string", f"{where}.function.arguments")


def check_example(data: Any, *, path: str = "<data>", line: int | None = None) -> list[Problem]:
    """Every format problem of one example (the parsed JSON of one line); empty when it is valid."""
    problems: list[Problem] = []

    def add(code: str, message: str, field: str | None = None, severity: str = "error") -> None:
        problems.append(Problem(code, message, path, line, field, "warning" if severity == "warning" else "error"))

    if not isinstance(data, dict):
        add("data_type", f"expected a JSON object per line, got {_describe(data)}")
        return problems
    for key in data:
        if key not in EXAMPLE_KEYS:
            add("example_unrecognized_key", f"unrecognized key {key!r}; OpenAI ignores or rejects it", key, "warning")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        got = "missing" if "messages" not in data else f"got {_describe(messages)}" if messages else "empty"
        add("missing_messages_list", f"expected a non-empty list of messages, {got}", "messages")
        return problems
    has_assistant = False
    for i, message in enumerate(messages):
        if type(message) is dict and len(message) == 2:  # fast path: a plain {"role", "content"} text message
            role, content = message.get("role"), message.get("content")
            if type(role) is str and role in _PLAIN_ROLES and type(content) is str and content:
                has_assistant = has_assistant or role == "assistant"
                continue
        field = f"messages[{i}]"
        if not isinstance(message, dict):
            add("data_type", f"a message must be an object, got {_describe(message)}", field)
            continue
        role = message.get("role")
        calls = message.get("tool_calls")
        function_call = message.get("function_call")
        if "role" not in message:
            add("message_missing_key", "message has no 'role'", f"{field}.role")
        elif not isinstance(role, str) or role not in ROLES:
            shown = repr(role) if isinstance(role, str) else _describe(role)
            add("unrecognized_role", f"unrecognized role {shown}", f"{field}.role")
        has_assistant = has_assistant or role == "assistant"
        for key in message:
            if key not in MESSAGE_KEYS:
                add("message_unrecognized_key", f"unrecognized key {key!r}", f"{field}.{key}")
        carries_call = role == "assistant" and (calls is not None or function_call is not None)
        if "content" not in message and not carries_call:
            add("message_missing_key", "message has no 'content'", f"{field}.content")
        elif (
            "content" in message
            and not _content_ok(message["content"])
            and not (carries_call and message["content"] in (None, ""))
        ):
            add("missing_content", f"content must be non-empty text, got {_describe(message['content'])}", field)
        if calls is not None:
            if role != "assistant":
                add("invalid_tool_calls", "only assistant messages carry tool_calls", f"{field}.tool_calls")
            else:
                _check_tool_calls(calls, f"{field}.tool_calls", add)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            add("message_missing_key", "a tool message needs a string 'tool_call_id'", f"{field}.tool_call_id")
        if "name" in message and not isinstance(message["name"], str):
            add("invalid_value", f"name must be a string, got {_describe(message['name'])}", f"{field}.name")
        if "weight" in message:
            weight = message["weight"]
            if isinstance(weight, bool) or weight not in (0, 1):
                add("invalid_weight", f"weight must be 0 or 1, got {weight!r}"[:80], f"{field}.weight")
            elif role != "assistant":
                add("invalid_weight", "weight is only allowed on assistant messages", f"{field}.weight")
    if not has_assistant:
        add("example_missing_assistant_message", "example has no assistant message to learn from", "messages")
    return problems
