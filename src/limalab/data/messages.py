"""Conversations as people store them, turned into limalab's turns.

limalab's chat format has two roles, user and assistant, alternating from a user turn; loss is
on the assistant's turns only (``data/chat.py``). Stored conversations come as

- plain strings alternating user/assistant (LIMA's release: ``conversations``);
- OpenAI ``messages``: ``{"role": system|user|assistant|tool, "content": ...}``, an assistant
  message may carry ``tool_calls`` instead of content, ``content`` may be a list of text parts;
- ShareGPT ``conversations``:
  ``{"from": system|human|gpt|function_call|observation, "value": ...}``.

How the roles land in the two-role format (the chat template, ``word_tokenizer.CHAT_TEMPLATE``,
renders exactly these turns, so training and export agree):

- **system**: its text opens the next user turn, then a blank line, then the user's words (as
  Mistral's template does for a model with no system role). No loss on it.
- **tool** (``tool``, ``function``, ``observation``): a tool's result is input the model reads,
  not words it writes: it goes on the user side, as ``Tool result (<name>):`` and the content.
  No loss on it.
- **assistant tool calls** (OpenAI ``tool_calls``, ShareGPT ``function_call``): the model's
  own output, so on the assistant side with loss, one line each: ``Tool call: <name>
  <arguments>``, the arguments as JSON whether stored as a string (OpenAI) or an object
  (ShareGPT), so one call gives one text in either format. A ``function_call`` value that is
  not ``{"name": ..., "arguments": ...}`` (or a list of them) is a bad record.
- Consecutive messages on the same side (a system message then a user's, two tool results)
  join into one turn with a blank line between.

Any other role is a bad record. A training conversation must end on an assistant turn; a
prompt (evaluation) must end on a user turn.
"""

from __future__ import annotations

import json
from typing import Any

USER_SIDE, ASSISTANT_SIDE = 0, 1
ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "function_call": "tool_call",
}


class ConversationError(ValueError):
    """A conversation limalab cannot represent; the message says why (the reader adds where)."""


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        if not all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        ):
            raise ConversationError(f"{where}: only text content parts are supported")
        return "\n\n".join(p["text"] for p in content)
    if content is None:
        return ""
    raise ConversationError(f"{where}: content is {type(content).__name__}, expected a string")


def call_line(name: str, arguments: Any) -> str:
    """``Tool call: <name> <arguments>``, one line whichever format stored the call: arguments
    held as a JSON string (OpenAI) or as an object (ShareGPT) print as the same JSON, non-ASCII
    kept; a string that is not JSON is printed as it is."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else None
        except json.JSONDecodeError:
            return f"Tool call: {name} {arguments}".rstrip()
    shown = "" if arguments is None else json.dumps(arguments, ensure_ascii=False)
    return f"Tool call: {name} {shown}".rstrip()


def _tool_calls(msg: dict, where: str) -> list[str]:
    """An OpenAI assistant message's ``tool_calls``."""
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise ConversationError(f"{where}: tool_calls is not a list")
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ConversationError(f"{where}: a tool call without function.name")
        out.append(call_line(fn["name"], fn.get("arguments")))
    return out


def _function_calls(value: str, where: str) -> str:
    """A ShareGPT ``function_call`` message's value: ``{"name", "arguments"}`` as JSON, or a
    list of them (parallel calls)."""
    try:
        calls = json.loads(value)
    except json.JSONDecodeError:
        calls = None
    calls = calls if isinstance(calls, list) else [calls]
    if not calls or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls):
        raise ConversationError(
            f'{where}: function_call: expected a JSON object {{"name": ..., "arguments": ...}} '
            "(or a list of them)"
        )
    return "\n".join(call_line(c["name"], c.get("arguments")) for c in calls)


def _side_and_text(msg: Any, i: int) -> tuple[int, str]:
    where = f"message {i}"
    if isinstance(msg, str):  # LIMA's plain alternation
        return i % 2, msg
    if not isinstance(msg, dict):
        raise ConversationError(
            f"{where}: expected a string or an object with role/content (or from/value)"
        )
    role = msg.get("role", msg.get("from"))
    if role not in ROLES:
        raise ConversationError(f"{where}: unknown role {role!r}; expected one of {sorted(ROLES)}")
    role = ROLES[role]
    text = _text(msg.get("content", msg.get("value")), where).strip()
    if role == "assistant":
        text = "\n".join([text, *_tool_calls(msg, where)]).strip()
    elif role == "tool":
        name = msg.get("name")
        text = f"Tool result{f' ({name})' if isinstance(name, str) and name else ''}:\n{text}"
    elif role == "tool_call" and text:
        text = _function_calls(text, where)
    if not text:
        raise ConversationError(f"{where}: empty {role} message")
    return (ASSISTANT_SIDE if role in ("assistant", "tool_call") else USER_SIDE), text


def to_turns(messages: Any, end: str = "assistant") -> list[str]:
    """Alternating user/assistant turns (user first) from stored messages; ``end`` is the side
    the conversation must end on: ``assistant`` for training, ``user`` for a prompt."""
    if not isinstance(messages, list) or not messages:
        raise ConversationError("expected a non-empty list of messages")
    turns: list[str] = []
    side = ASSISTANT_SIDE  # the side of turns[-1]; nothing yet, so the next user turn opens one
    for i, msg in enumerate(messages):
        s, text = _side_and_text(msg, i)
        if turns and s == side:
            turns[-1] += "\n\n" + text
        elif not turns and s == ASSISTANT_SIDE:
            raise ConversationError("message 0: the conversation opens with an assistant turn")
        else:
            turns.append(text)
            side = s
    want = ASSISTANT_SIDE if end == "assistant" else USER_SIDE
    if side != want:
        raise ConversationError(
            f"ends on {('a user', 'an assistant')[side]} turn; expected it to end on "
            f"{('a user', 'an assistant')[want]} turn ({len(turns)} turns)"
        )
    return turns


CONVERSATION_KEYS = ("conversations", "messages")


def prompt_fields(row: dict) -> dict:
    """An evaluation prompt from a stored row: ``prompt`` (a string), or a conversation under
    ``conversations`` / ``messages`` ending on a user turn (LIMA's test file: one user turn),
    whose last turn is the prompt and the turns before it its ``history``."""
    if "prompt" in row:
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise ConversationError("expected a non-empty 'prompt' string")
        return {"prompt": row["prompt"]}
    for key in CONVERSATION_KEYS:
        if key in row:
            try:
                turns = to_turns(row[key], end="user")
            except ConversationError as e:
                raise ConversationError(f"{key}: {e}") from None
            return {"prompt": turns[-1], **({"history": turns[:-1]} if len(turns) > 1 else {})}
    raise ConversationError(
        f"expected a 'prompt' string or a conversation ({' or '.join(CONVERSATION_KEYS)})"
    )
