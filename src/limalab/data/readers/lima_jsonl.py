"""LIMA's release format: one JSON object per line, ``conversations`` (alternating turns, user
first, ending on the assistant's; multi-turn chains keep every turn) and ``source``, the
release's label (stackexchange, authors, wikihow, nlp, writingprompts, multi_turn).

``labels`` selects rows by that label (every row when unset); rows with another label are
counted as ``select:labels``. An example's id is the file's stem, the row's label and its line
(``train:multi_turn:1012``), the same whichever mix source reads it, so two sources that pick
the same row are an error (``data/mix.py``), and the label is in the manifest's ids.

A JSON array (first character ``[``) is an error naming the file, not a file of bad lines:
the release is JSON Lines and the ids are line numbers; the ``table`` reader reads arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from limalab.config.schema import PluginOptions
from limalab.data.example import BadRecord, BadRecords, Example, is_json_array, json_objects
from limalab.data.messages import ConversationError, to_turns
from limalab.data.sources import READERS, Source


def read_conversations(
    path: str | Path, bad: BadRecords | None = None
) -> Iterator[tuple[int, list[str], str]]:
    """Yield (line, turns, release label)."""
    path = Path(path)
    bad = bad or BadRecords()
    if is_json_array(path):  # read line by line, every line of it would be a bad record
        raise BadRecord(
            f"{path}: a JSON array; expected JSON Lines, one object per line (LIMA's release: "
            '{"conversations": [...], "source": ...}). A JSON array of conversations is read by '
            "reader: table with columns: {conversations: <its key>}"
        )
    for n, row in json_objects(path, bad):
        turns, label = row.get("conversations"), row.get("source", "")
        if (
            not isinstance(turns, list)
            or not all(isinstance(t, str) for t in turns)
            or not isinstance(label, str)
        ):
            bad(
                f"{path}: line {n}: expected 'conversations', a list of strings (user first, "
                "ending on the assistant's), and an optional 'source' string"
            )
            continue
        try:
            turns = to_turns(turns, end="assistant")
        except ConversationError as e:
            bad(f"{path}: line {n}: conversations: {e}")
            continue
        yield n, turns, label


class LimaOptions(PluginOptions):
    labels: list[str] | None = (
        None  # the release's `source` labels to keep (e.g. [multi_turn]); all when unset
    )


@READERS.register("lima_jsonl", options=LimaOptions)
def lima_pool(src: Source) -> list[Example]:
    labels = src.opt.labels
    stem = Path(src.path).stem
    out = []
    for n, turns, label in src.count(read_conversations(src.path, src.bad)):
        if labels is not None and label not in labels:
            src.drop("select:labels")
            continue
        out.append(
            Example(
                f"{stem}:{label}:{n}" if label else f"{stem}:{n}", src.name, turns, {"label": label}
            )
        )
    return src.shuffled(out)
