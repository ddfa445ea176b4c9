"""LLM judges: the Likert rubric sent to any OpenAI-compatible chat-completions endpoint (or
to a local transformers model, ``hf_local.py``), with retries, a concurrency limit, usage and
cost counts, and an on-disk reply cache so that nothing is paid for twice.

The API key is read from the environment variable named by ``judge.api_key_env`` at request
time; it is never stored on an object that is logged, and never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import httpx
from pydantic import Field

from limalab.config.schema import PluginOptions
from limalab.eval.judges.interface import (
    BACKENDS,
    JUDGES,
    Capabilities,
    JudgeContext,
    Judgment,
    LLMJudgeOptions,
    backend_options,
    judge_options,
)
from limalab.eval.judges.rubric import (
    LIKERT_JSON_VERSION,
    LIKERT_RESPONSE_FORMAT,
    LIKERT_SYSTEM,
    LIKERT_VERSION,
    likert_json_prompt,
    likert_prompt,
    parse_likert,
    parse_likert_json,
    task_text,
)

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}


class JudgeConfigError(RuntimeError):
    """The endpoint refuses us for a reason retries cannot fix (key, model name, URL)."""


class NoReply(RuntimeError):
    """No usable HTTP reply after every retry (counted as invalid, retried on a rerun)."""


class Refused(NoReply):
    """The endpoint answered that this request will never work (a 4xx such as 400 or 422): for a
    structured-output request, the sign that it does not take ``response_format``."""

    def __str__(self) -> str:
        return f"refused: {self.args[0]}"


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    model: str
    supports_response_format: bool  # may be asked for structured output (it may still refuse)

    def complete(self, system: str, user: str, response_format: dict | None = None) -> Reply: ...


class ApiOptions(PluginOptions):
    """``judge.backend=api``: any OpenAI-compatible chat-completions endpoint."""

    base_url: Annotated[str, Field(min_length=1)]
    model: Annotated[str, Field(min_length=1)]
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key (never the key)
    timeout_s: Annotated[float, Field(gt=0)] = 60.0
    max_retries: Annotated[int, Field(ge=0)] = 5  # on 429, 5xx, timeouts and connection errors
    backoff_s: Annotated[float, Field(ge=0)] = 1.0
    max_backoff_s: Annotated[float, Field(ge=0)] = 60.0
    temperature: Annotated[float, Field(ge=0)] = 0.0
    max_tokens: Annotated[int, Field(ge=1)] = 1024


@BACKENDS.register("api", options=ApiOptions)
@dataclass
class ChatClient:
    """``POST {base_url}/chat/completions`` with exponential back-off and jitter on 429, 5xx,
    timeouts and connection errors (``Retry-After`` honoured). ``sleep`` is injectable so
    tests of the back-off take no wall time."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 1024
    sleep: Callable[[float], None] = time.sleep
    seed: int = 0
    attempts: int = field(default=0, init=False)  # HTTP requests sent, retries included
    _rng: random.Random = field(default=None, init=False, repr=False)  # type: ignore[assignment]
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    supports_response_format = True

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._http = httpx.Client(timeout=self.timeout_s)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ChatClient:
        o = backend_options("api", cfg)
        return cls(
            o.base_url,
            o.model,
            o.api_key_env,
            o.timeout_s,
            o.max_retries,
            o.backoff_s,
            o.max_backoff_s,
            o.temperature,
            o.max_tokens,
        )

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.max_backoff_s, float(retry_after))
            except ValueError:
                pass
        with self._lock:
            jitter = 0.5 + self._rng.random() / 2
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * jitter

    def complete(self, system: str, user: str, response_format: dict | None = None) -> Reply:
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if response_format is not None:
            body["response_format"] = response_format
        url = self.base_url.rstrip("/") + "/chat/completions"
        last, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self._delay(attempt - 1, retry_after))
            retry_after = None
            with self._lock:
                self.attempts += 1
            try:
                r = self._http.post(url, json=body, headers=self._headers())
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = f"{type(e).__name__}"
                continue
            if r.status_code in FATAL_STATUS:
                raise JudgeConfigError(
                    f"judge endpoint {url} answered {r.status_code} for model {self.model!r}: "
                    f"check judge.base_url, judge.model and ${self.api_key_env}"
                )
            if r.status_code in RETRY_STATUS:
                last, retry_after = f"HTTP {r.status_code}", r.headers.get("retry-after")
                continue
            if r.status_code != 200:
                if 400 <= r.status_code < 500:
                    raise Refused(f"HTTP {r.status_code}")  # e.g. 400: this request will never work
                raise NoReply(f"HTTP {r.status_code}")
            try:
                data = r.json()
                usage = data.get("usage") or {}
                return Reply(
                    data["choices"][0]["message"]["content"] or "",
                    int(usage.get("prompt_tokens", 0)),
                    int(usage.get("completion_tokens", 0)),
                )
            except (ValueError, KeyError, IndexError, TypeError):
                last = "a malformed response body"
        raise NoReply(f"no reply after {self.max_retries + 1} attempts (last: {last})")


class ReplyCache:
    """Replies on disk (SQLite), keyed by judge model, rubric version and the exact request,
    shared by every run in the cache: a rerun or another run grading the same text sends nothing."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open(path)
        self._lock = threading.Lock()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, timeout=60)
        db.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, text TEXT, pt INTEGER, ct "
            "INTEGER)"
        )
        db.commit()
        return db

    @classmethod
    def _open(cls, path: Path) -> sqlite3.Connection:
        """The cache, or, if its file is damaged ("database disk image is malformed"), a new one
        beside the damaged file, which is kept (``.corrupt-<time>``): replies are only a cache."""
        try:
            db = cls._connect(path)
            if db.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                return db
            db.close()
        except sqlite3.DatabaseError:
            pass
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = path.with_name(path.name + suffix)
            if p.exists():
                p.replace(aside.with_name(aside.name + suffix))
        log.warning(
            "%s was damaged: set aside as %s, replies will be asked again (and cached anew)",
            path,
            aside,
        )
        return cls._connect(path)

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def get(self, key: str) -> Reply | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, pt, ct FROM replies WHERE key = ?", (key,)
            ).fetchone()
        return Reply(*row) if row else None

    def put(self, key: str, reply: Reply) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?,?,?,?)",
                (key, reply.text, reply.prompt_tokens, reply.completion_tokens),
            )
            self._db.commit()


@dataclass
class Usage:
    """What a judge spent: requests, tokens and cost (sent) apart from cache hits (free)."""

    price_in_per_1m: float = 0.0
    price_out_per_1m: float = 0.0
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invalid_unparsed: int = 0
    invalid_no_reply: int = 0
    structured_replies: int = 0  # judgments answered as JSON (structured output)
    text_replies: int = 0  # judgments answered as text (asked so, or the endpoint refused JSON)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def to_dict(self) -> dict[str, Any]:
        cost = (
            self.prompt_tokens * self.price_in_per_1m
            + self.completion_tokens * self.price_out_per_1m
        ) / 1e6
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(cost, 6),
            "invalid_unparsed": self.invalid_unparsed,
            "invalid_no_reply": self.invalid_no_reply,
            "structured_replies": self.structured_replies,
            "text_replies": self.text_replies,
        }


class CachedAsker:
    """Ask a backend through the cache, re-asking an unparseable reply up to ``parse_retries``
    times; counts everything in ``usage``. ``pass_no`` > 1 asks anew instead of reading the
    first pass's replies (a re-judging pass that measures the judge's drift)."""

    def __init__(
        self,
        backend: Backend,
        cache: ReplyCache,
        version: str,
        usage: Usage,
        parse_retries: int = 1,
        pass_no: int = 1,
    ) -> None:
        self.backend, self.cache, self.version, self.usage, self.parse_retries = (
            backend,
            cache,
            version,
            usage,
            parse_retries,
        )
        self.pass_no = pass_no

    def _key(self, system: str, user: str, attempt: int, response_format: dict | None) -> str:
        parts = [self.backend.model, self.version, system, user, str(attempt)]
        if (
            response_format is not None
        ):  # text requests keep their keys: caches from before stay valid
            parts.append(json.dumps(response_format, sort_keys=True))
        if self.pass_no > 1:
            parts.append(f"pass{self.pass_no}")
        return ReplyCache.key(*parts)

    def ask(
        self,
        system: str,
        user: str,
        parse: Callable[[str], Any],
        response_format: dict | None = None,
    ) -> tuple[Any, str, str | None]:
        """(parsed value or None, reply text, why invalid)."""
        text = ""
        for attempt in range(self.parse_retries + 1):
            key = self._key(system, user, attempt, response_format)
            reply = self.cache.get(key)
            if reply is not None:
                self.usage.add(cache_hits=1)
            else:
                try:
                    reply = (
                        self.backend.complete(system, user, response_format)
                        if response_format is not None
                        else self.backend.complete(system, user)
                    )
                except NoReply as e:
                    self.usage.add(invalid_no_reply=1)
                    return None, "", str(e)
                self.usage.add(
                    requests=1,
                    prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens,
                )
                self.cache.put(key, reply)
            text = reply.text
            value = parse(text)
            if value is not None:
                return value, text, None
        self.usage.add(invalid_unparsed=1)
        return None, text, "unparseable reply"


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], concurrency: int) -> list[Any]:
    """``fn`` over ``items`` with at most ``concurrency`` in flight, results in order."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(fn, items))


class LikertOptions(LLMJudgeOptions):
    # auto: JSON with a schema admitting only 1-6 where the endpoint takes it, else the text rubric;
    # json: always JSON; text: LIMA's number-on-its-own-line form
    structured: Literal["auto", "json", "text"] = "text"


@JUDGES.register("likert", options=LikertOptions)
class LikertJudge(Capabilities):
    """LIMA's Likert helpfulness grade (1-6) from an LLM; invalid replies score ``None`` and
    are excluded from means (and counted), never guessed.

    ``structured``: ``json`` asks for a JSON object whose schema admits only the levels 1-6
    (``rubric.LIKERT_RESPONSE_FORMAT``), read as text if the reply is not JSON; ``auto`` does so
    where the backend takes a response format and falls back to the text rubric for good once
    the endpoint refuses it; ``text`` asks for the number on its own line (LIMA's App. D form).
    """

    default_backend = "api"

    def __init__(
        self,
        backend: Backend,
        cache: ReplyCache,
        options: LikertOptions | None = None,
        kind: str = "likert",
        pass_no: int = 1,
    ) -> None:
        o = self.options = options or LikertOptions()
        self.backend, self.cache, self.kind = backend, cache, kind
        self.usage = Usage(o.price_in_per_1m, o.price_out_per_1m)
        self.parse_retries, self.concurrency, self.pass_no = o.parse_retries, o.concurrency, pass_no
        self.structured = (
            o.structured if getattr(backend, "supports_response_format", False) else "text"
        )
        self._json_ok = self.structured != "text"
        self.asker = CachedAsker(
            backend, cache, LIKERT_VERSION, self.usage, o.parse_retries, pass_no
        )
        self.json_asker = CachedAsker(
            backend, cache, LIKERT_JSON_VERSION, self.usage, o.parse_retries, pass_no
        )
        version = LIKERT_VERSION if self.structured == "text" else LIKERT_JSON_VERSION
        self.id = f"{kind}:{backend.model}@{version}"

    @classmethod
    def from_config(cls, cfg: dict[str, Any], ctx: JudgeContext) -> LikertJudge:
        from limalab.eval.judges import build_backend

        return cls(
            build_backend(cfg, cls.default_backend),
            reply_cache(cfg, ctx),
            judge_options(cfg),
            cfg["name"],
        )

    def for_pass(self, pass_no: int) -> LikertJudge:
        """The same judge and settings asking anew (pass 2, 3, ...): its drift is measured."""
        return type(self)(self.backend, self.cache, self.options, self.kind, pass_no)

    def judge(self, prompt: dict, response: str, terminated: bool) -> Judgment:
        task = task_text(prompt)
        if self._json_ok:
            score, text, why = self.json_asker.ask(
                LIKERT_SYSTEM,
                likert_json_prompt(task, response),
                parse_likert_json,
                LIKERT_RESPONSE_FORMAT,
            )
            if not (self.structured == "auto" and why and why.startswith("refused")):
                self.usage.add(structured_replies=1)
                return self._judgment(score, text, why, "json")
            # refused (not down: an outage is retried, then invalid, never a reason to switch)
            self._json_ok = False
            log.warning(
                "judge endpoint refused structured output (%s): asking in text from now on", why
            )
        score, text, why = self.asker.ask(
            LIKERT_SYSTEM, likert_prompt(task, response), parse_likert
        )
        self.usage.add(text_replies=1)
        return self._judgment(score, text, why, "text")

    def _judgment(self, score: int | None, text: str, why: str | None, reply: str) -> Judgment:
        return Judgment(
            score, {"invalid": why, "reply": reply} if why else {"reply": reply}, text, self.id
        )

    def judge_all(self, items: Sequence[tuple[dict, str, bool]]) -> list[Judgment]:
        if (
            self._json_ok and self.structured == "auto" and items
        ):  # learn whether JSON works before fanning out
            return [
                self.judge(*items[0]),
                *parallel_map(lambda it: self.judge(*it), items[1:], self.concurrency),
            ]
        return parallel_map(lambda it: self.judge(*it), items, self.concurrency)


def reply_cache(cfg: dict[str, Any], ctx: JudgeContext) -> ReplyCache:
    """``judge.reply_cache``, else ``<cache_dir>/judge_replies.sqlite``: shared by every run."""
    o = judge_options(cfg)
    return ReplyCache(
        Path(o.reply_cache or Path(ctx.cache_dir or ".cache/limalab") / "judge_replies.sqlite")
    )
