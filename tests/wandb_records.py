"""The records of an offline W&B run, decoded with wandb's own protobufs: the ``.wandb`` file is
a LevelDB-style log (header ``:W&B`` + 2-byte magic + version; 32 KiB blocks; each record a
crc32, a 2-byte length and a type: 1 full, 2 first, 3 middle, 4 last) of ``Record`` messages."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, HEADER, CHUNK_HEADER = 32 * 1024, 7, 7


def chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b":W&B", "not a W&B transaction log"
    out, partial, pos = [], b"", HEADER
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        if kind == 0:  # zero fill up to the block's end
            pos += left
            continue
        body = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == 1:
            out.append(body)
        elif kind == 2:
            partial = body
        elif kind == 3:
            partial += body
        elif kind == 4:
            out.append(partial + body)
            partial = b""
    return out


def records(path: Path) -> list[pb.Record]:
    out = []
    for raw in chunks(path.read_bytes()):
        rec = pb.Record()
        rec.ParseFromString(raw)
        out.append(rec)
    return out


def run_view(path: Path) -> dict[str, Any]:
    """What a synced run shows: its name, group, job type, tags, config, summary, history keys,
    the artifacts it logged (type, name, aliases, files or references) and used (edges)."""
    view: dict[str, Any] = {"summary": {}, "history": defaultdict(list), "logged": [], "used": []}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            view |= {
                "id": r.run_id,
                "sweep_id": r.sweep_id,
                "name": r.display_name,
                "group": r.run_group,
                "job_type": r.job_type,
                "tags": list(r.tags),
                "config": {i.key: json.loads(i.value_json) for i in r.config.update},
            }
        elif kind == "summary":
            view["summary"].update(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in rec.summary.update
                }
            )
        elif kind == "history":
            for i in rec.history.item:
                view["history"][i.key or "/".join(i.nested_key)].append(json.loads(i.value_json))
        elif (
            kind == "artifact"
        ):  # an output, or (use_after_commit) an input: what use_artifact records
            a = rec.artifact
            files = [(e.path, e.ref) for e in a.manifest.contents]
            view["used" if a.use_after_commit else "logged"].append(
                {
                    "type": a.type,
                    "name": a.name,
                    "aliases": list(a.aliases),
                    "files": files,
                    "digest": a.digest,
                    "metadata": json.loads(a.metadata or "{}"),
                }
            )
        elif kind == "use_artifact":  # an artifact fetched from the server (online only)
            u = rec.use_artifact
            view["used"].append({"type": u.type, "name": u.name, "id": u.id})
    return view


def run_views(runs_dir: Path) -> list[dict[str, Any]]:
    return [run_view(p) for p in sorted(runs_dir.rglob("*.wandb"))]
