"""Every reader on its hand-made fixture (the format's real quirks) and on a malformed copy:
an error naming the file and line by default, skip-and-count with on_bad_record=skip."""

from __future__ import annotations

import collections
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from limalab.data.example import BadRecord, BadRecords
from limalab.data.readers import (
    alpaca,
    lima_jsonl,
    natural_instructions,
    stackexchange,
    table,
    wikihow,
    writingprompts,
)

FIX = Path(__file__).parents[1] / "fixtures"
SE = FIX / "se" / "tinkering.stackexchange.com"


def copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return dst


# --- Stack Exchange -------------------------------------------------------------------------


def test_stackexchange_orders_by_score_and_keeps_unescaped_bodies() -> None:
    threads = list(stackexchange.read_threads(SE, by_score=True))
    assert [t.id for t in threads] == ["1", "2"]  # scores 30, 5
    t = threads[0]
    assert t.body.startswith("<p>My door hinge")  # the XML escaping is undone, the HTML kept
    assert [a.score for a in t.answers] == [25, 12] and t.accepted_id == "4"


def test_stackexchange_truncated_xml_names_file_and_line(tmp_path: Path) -> None:
    site = copy(SE, tmp_path)
    text = (site / "Posts.xml").read_text()
    (site / "Posts.xml").write_text(text[: text.index('<row Id="2"') + 20])
    with pytest.raises(BadRecord, match=r"Posts.xml: line 5, column \d+: malformed XML"):
        list(stackexchange.read_threads(site))
    with pytest.raises(BadRecord):  # no next record to skip to: still an error with skip
        list(stackexchange.read_threads(site, BadRecords("skip")))


def test_stackexchange_bad_row_errors_or_is_skipped_and_counted(tmp_path: Path) -> None:
    site = copy(SE, tmp_path)
    p = site / "Posts.xml"
    p.write_text(
        p.read_text().replace(
            'Id="5" PostTypeId="2" ParentId="2"', 'Id="5" PostTypeId="2" ParentId="two"'
        )
    )
    with pytest.raises(BadRecord, match=r"Posts.xml: post 5: bad or missing attribute"):
        list(stackexchange.read_threads(site))
    bad = BadRecords("skip")
    threads = {t.id: t for t in stackexchange.read_threads(site, bad)}
    assert bad.count == 1 and threads["2"].answers == [] and len(threads["1"].answers) == 2


# --- wikiHow --------------------------------------------------------------------------------


def test_wikihow_all_layout_keeps_multiline_quoted_fields() -> None:
    arts = list(wikihow.read_articles(FIX / "wikihow" / "wikihowAll.csv"))
    assert [a[1] for a in arts] == ["How to Cook an Omelette", "How to Hang a Shelf"]
    line, _, text, _ = arts[0]
    assert line == 2 and text.count("\n") == 2 and 'the "secret" is air.' in text
    assert arts[1][0] == 7  # the first article's fields spanned lines 2-6


def test_wikihow_sep_layout_rebuilds_articles_from_steps() -> None:
    arts = list(wikihow.read_articles(FIX / "wikihow" / "wikihowSep.csv"))
    assert [a[1] for a in arts] == ["How to Hang a Shelf", "How to Make Tea"]
    text = arts[0][2].split("\n")
    assert text[0] == "Hanging a shelf takes ten minutes." and text[1] == "Preparing the Wall"
    assert text[2].startswith("Find the stud. Run a magnet") and "Mounting" in text
    assert sum(t.startswith(("Find", "Drill", "Screw")) for t in text) == 3


def test_wikihow_missing_columns_and_ragged_rows(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    p.write_text("headline,name,body\na,b,c\n")
    with pytest.raises(
        BadRecord,
        match=r"w.csv: line 1: columns .* "
        r"expected wikihowAll.csv's \['headline', 'title', 'text'\]",
    ):
        list(wikihow.read_articles(p))
    p.write_text('headline,title,text\nh,"How to A","a"\nh,"How to B"\nh,"How to C","c"\n')
    with pytest.raises(BadRecord, match=r"w.csv: line 3: expected 3 fields"):
        list(wikihow.read_articles(p))
    bad = BadRecords("skip")
    assert [a[1] for a in wikihow.read_articles(p, bad)] == [
        "How to A",
        "How to C",
    ] and bad.count == 1


# --- WritingPrompts ---------------------------------------------------------------------------


def test_writingprompts_strips_tags_and_newline_tokens() -> None:
    pairs = list(writingprompts.read_pairs(FIX / "writingprompts"))
    assert pairs[0][1] == "A dragon opens a bakery ." and pairs[1][1].startswith(
        "The last lighthouse"
    )
    assert pairs[0][2] == "The dragon had always loved bread .\nNobody bought any at first ."


def test_writingprompts_misaligned_files_are_an_error(tmp_path: Path) -> None:
    d = copy(FIX / "writingprompts", tmp_path)
    with (d / "train.wp_target").open("a") as f:
        f.write("An extra story .\n")
    with pytest.raises(
        BadRecord, match=r"different numbers of lines \(after line 2, where train.wp_source ends\)"
    ):
        list(writingprompts.read_pairs(d))


# --- Natural Instructions --------------------------------------------------------------------


def test_natural_instructions_task_file() -> None:
    [(name, definition, instances)] = list(
        natural_instructions.read_tasks(FIX / "natural_instructions")
    )
    assert name == "task001_paraphrase" and definition.startswith("In this task")
    assert [i["id"] for i in instances] == ["task001-aa01", "task001-aa02"]


def test_natural_instructions_malformed(tmp_path: Path) -> None:
    d = copy(FIX / "natural_instructions", tmp_path)
    (d / "tasks" / "task002_broken.json").write_text('{\n "Definition": ["x"],\n "Instances": [\n')
    task = json.loads((d / "tasks" / "task001_paraphrase.json").read_text())
    task["Instances"].append({"id": "task001-aa03", "input": "No output here."})
    (d / "tasks" / "task001_paraphrase.json").write_text(json.dumps(task))
    with pytest.raises(
        BadRecord, match=r"task001_paraphrase.json: Instances\[2\]: expected id and input"
    ):
        list(natural_instructions.read_tasks(d))
    bad = BadRecords("skip")
    tasks = list(natural_instructions.read_tasks(d, bad))
    assert len(tasks) == 1 and len(tasks[0][2]) == 2 and bad.count == 2
    assert any("task002_broken.json: line 4: malformed JSON" in m for m in bad.examples)


# --- LIMA JSONL, Alpaca ------------------------------------------------------------------------


def test_lima_jsonl_keeps_multi_turn() -> None:
    rows = list(lima_jsonl.read_conversations(FIX / "lima" / "lima.jsonl"))
    assert [r[0] for r in rows] == [1, 3] and len(rows[1][1]) == 4 and rows[1][2] == "multi_turn"


def test_lima_jsonl_malformed_line(tmp_path: Path) -> None:
    p = copy(FIX / "lima" / "lima.jsonl", tmp_path)
    p.write_text(p.read_text() + '{"conversations": ["only one turn"]}\n{"conversations": [\n')
    with pytest.raises(BadRecord, match=r"lima.jsonl: line 4: conversations: ends on a user turn"):
        list(lima_jsonl.read_conversations(p))
    bad = BadRecords("skip")
    assert len(list(lima_jsonl.read_conversations(p, bad))) == 2 and bad.count == 2


def test_alpaca_joins_instruction_and_input() -> None:
    rows = list(alpaca.read_records(FIX / "alpaca" / "alpaca_data.json"))
    assert rows[0][1] == "Give three tips for staying healthy."
    assert (
        rows[1][1] == "Translate the sentence into French.\n\nThe cat is black."
        and rows[1][2] == "Le chat est noir."
    )


def test_alpaca_malformed(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text('[{"instruction": "x", "output": "y"},\n {"instruction": "z"}]')
    with pytest.raises(
        BadRecord, match=r"a.json: record 1: expected non-empty 'instruction' and 'output'"
    ):
        list(alpaca.read_records(p))
    bad = BadRecords("skip")
    assert len(list(alpaca.read_records(p, bad))) == 1 and bad.count == 1
    p.write_text('[{"instruction": "x",\n "output": "y"},\n')
    with pytest.raises(BadRecord, match=r"a.json: line 3: malformed JSON"):
        list(alpaca.read_records(p))


# --- generic tables: JSONL, Parquet, datasets directories ---------------------------------------

COLUMNS = {"prompt": "question", "response": "answer", "id": "uid"}


def test_table_jsonl_parquet_and_datasets_dir_read_the_same(tmp_path: Path) -> None:
    import datasets

    src = FIX / "table" / "rows.jsonl"
    rows = [json.loads(x) for x in src.read_text().splitlines()]
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(tmp_path / "rows.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "saved_dict"))
    want = [("r1", ["What is 2 + 2?", "4."]), ("r2", ["Name a primary colour.", "Red."])]
    for loc in (src, tmp_path / "rows.parquet", tmp_path / "saved", tmp_path / "saved_dict"):
        got = [(rid, turns) for rid, _, turns in table.read_rows(str(loc), COLUMNS)]
        assert got == want, loc


def test_table_conversations_column_and_missing_columns(tmp_path: Path) -> None:
    p = tmp_path / "chat.jsonl"
    msgs = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    p.write_text(json.dumps({"messages": msgs}) + "\n" + json.dumps({"messages": msgs[:2]}) + "\n")
    bad = BadRecords("skip")
    assert [t for _, _, t in table.read_rows(str(p), {"conversations": "messages"}, bad)] == [
        ["be nice\n\nhi", "hello"]
    ]
    assert bad.count == 1
    with pytest.raises(
        BadRecord,
        match=r"rows.jsonl: line 1: missing columns \['prompt'\]; expected \['prompt', 'answer'\]",
    ):
        list(
            table.read_rows(
                str(FIX / "table" / "rows.jsonl"), {"prompt": "prompt", "response": "answer"}
            )
        )


def test_readers_do_not_import_torch() -> None:
    """The data layer runs in bounded memory next to training jobs: no torch on import."""
    import subprocess

    code = (
        "import sys, limalab.data.mix, limalab.data.clean, limalab.data.readers.table; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- real-format dumps: BOM, CRLF, both tag styles, unsorted rows, meta sites ----------------

DUMP = FIX / "se_dump"


def test_stackexchange_dump_with_bom_crlf_and_unsorted_rows() -> None:
    threads = {t.id: t for t in stackexchange.read_threads(DUMP / "woodwork.stackexchange.com")}
    assert set(threads) == {"1", "4", "6"}  # the tag wiki (PostTypeId 5) is no question
    assert threads["1"].tags == ["planes", "oak"] and [a.id for a in threads["1"].answers] == [
        "2",
        "3",
    ]
    assert threads["4"].body == "" and threads["6"].answers == []
    meta = list(stackexchange.read_threads(DUMP / "woodwork.meta.stackexchange.com"))
    assert meta[0].site == "woodwork.meta" and meta[0].tags == ["discussion", "scope"]


@pytest.mark.parametrize(
    ("dirname", "site"),
    [
        ("biology.stackexchange.com", "biology"),
        ("biology.meta.stackexchange.com", "biology.meta"),
        ("meta.stackexchange.com", "meta"),
        ("stackoverflow.com", "stackoverflow"),
        ("meta.askubuntu.com", "meta.askubuntu"),
        ("es.meta.stackoverflow.com", "es.meta.stackoverflow"),
        ("mathoverflow.net", "mathoverflow"),
        ("realms", "realms"),
    ],
)
def test_site_identity_keeps_meta_sites_apart(dirname: str, site: str) -> None:
    assert stackexchange.site_name(Path(dirname)) == site
    assert stackexchange.is_meta(site) == ("meta" in dirname.split("."))


# --- wikiHow as released ----------------------------------------------------------------------


def test_wikihow_released_csv_bom_crlf_separators_and_cleaning() -> None:
    from limalab.data.sources import source_pool

    path = FIX / "wikihow" / "released" / "wikihowAll.csv"
    pool, stats = source_pool({"name": "w", "reader": "wikihow"}, path, seed=0)
    by_prompt = {ex.turns[0]: ex.turns[1] for ex in pool}
    assert set(by_prompt) == {"How to Sand a Table?", "How to Make Tea?"}  # no "??"
    assert by_prompt["How to Sand a Table?"] == (
        "The following answer shows how to sand a table top.\n"
        "Sand along the grain with 120 grit.\n"
        "Wipe the dust off with a damp cloth, then let it dry."
    )
    assert "\n," not in by_prompt["How to Make Tea?"]
    assert stats == {
        "input": 4,
        "wikihow_cleaning": 1,
        "empty_body": 1,
        "bad_records": 0,
        "kept": 2,
    }


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_wikihow_unclosed_quote_is_fatal_under_both_policies(tmp_path: Path, policy: str) -> None:
    p = tmp_path / "wikihowAll.csv"
    p.write_text(
        'headline,title,text\nh,"How to A","a"\nh,"How to B,"b\nh,"How to C","c"\nh,"How to '
        'D","never closed\n'
    )
    with pytest.raises(BadRecord, match=r"wikihowAll.csv: line 3: malformed CSV"):
        list(wikihow.read_articles(p, BadRecords(policy)))
    p.write_text('headline,title,text\nh,"How to A","a"\nh,"How to D","never closed\nmore text\n')
    with pytest.raises(BadRecord, match=r"wikihowAll.csv: line 3: malformed CSV"):
        list(wikihow.read_articles(p, BadRecords(policy)))


def test_wikihow_sep_article_with_no_steps_is_counted_empty(tmp_path: Path) -> None:
    from limalab.data.sources import source_pool

    p = tmp_path / "wikihowSep.csv"
    p.write_text((FIX / "wikihow" / "wikihowSep.csv").read_text() + ",,,,How to Wait\n")
    pool, stats = source_pool({"name": "w", "reader": "wikihow"}, p, seed=0)
    assert len(pool) == 2 and stats["empty_body"] == 1 and stats["input"] == 3


# --- WritingPrompts: misaligned either way ----------------------------------------------------


@pytest.mark.parametrize("longer", ["train.wp_source", "train.wp_target"])
def test_writingprompts_one_extra_line_in_either_file_is_an_error(
    tmp_path: Path, longer: str
) -> None:
    d = copy(FIX / "writingprompts", tmp_path)
    with (d / longer).open("a") as f:
        f.write("[ WP ] One more .\n" if longer.endswith("source") else "One more story .\n")
    with pytest.raises(BadRecord, match=r"different numbers of lines \(after line 2"):
        list(writingprompts.read_pairs(d, "train", BadRecords("skip")))


# --- the LIMA release ---------------------------------------------------------------------------


def test_lima_release_selects_by_label_and_keeps_it_in_ids() -> None:
    from limalab.data.sources import source_pool

    path = FIX / "lima" / "release.jsonl"
    bad = BadRecords("skip")
    rows = list(lima_jsonl.read_conversations(path, bad))
    assert (
        bad.count == 1 and "line 7: conversations: ends on a user turn" in bad.examples[0]
    )  # odd turns
    labels = collections.Counter(label for _, _, label in rows)
    assert labels == {
        "authors": 2,
        "stackexchange": 1,
        "wikihow": 1,
        "nlp": 1,
        "writingprompts": 1,
        "multi_turn": 1,
    }
    cfg = {"name": "dialogue", "reader": "lima_jsonl", "labels": ["multi_turn"]}
    pool, stats = source_pool(cfg, path, seed=0, on_bad_record="skip")
    assert [ex.id for ex in pool] == ["release:multi_turn:6"] and len(pool[0].turns) == 4
    assert stats == {"input": 8, "select:labels": 6, "bad_records": 1, "kept": 1}
    with pytest.raises(ValueError, match=r"data.sources.x.labels: expected a list"):
        source_pool(
            {"name": "x", "reader": "lima_jsonl", "labels": "nlp"},
            path,
            seed=0,
            on_bad_record="skip",
        )


# --- chat tables: JSON arrays and JSONL, roles honoured -----------------------------------------


def test_openai_messages_with_system_and_tool_turns() -> None:
    bad = BadRecords("skip")
    rows = list(
        table.read_rows(
            str(FIX / "chat" / "openai.jsonl"), {"conversations": "messages", "id": "id"}, bad
        )
    )
    assert [r[0] for r in rows] == ["c1", "c2"]
    assert rows[0][2] == [
        "You answer in one sentence.\n\nWhat is the weather in Oslo?",
        'Tool call: get_weather {"city": "Oslo"}',
        'Tool result (get_weather):\n{"temp_c": 4}',
        "It is 4 degrees in Oslo.",
    ]
    assert len(rows[1][2]) == 4
    assert bad.count == 2
    assert "line 3: messages: message 1: unknown role 'narrator'" in bad.examples[0]
    assert "line 4: messages: ends on a user turn" in bad.examples[1]


def test_sharegpt_json_array_with_function_calls() -> None:
    bad = BadRecords("skip")
    rows = list(
        table.read_rows(
            str(FIX / "chat" / "sharegpt.json"), {"conversations": "conversations", "id": "id"}, bad
        )
    )
    assert [r[0] for r in rows] == ["s1", "s2"] and rows[0][1] == "record 0"
    assert rows[0][2] == [
        "Be brief.\n\nConvert 3 km to miles.",
        'Tool call: convert {"km": 3}',
        'Tool result:\n{"miles": 1.86}',
        "3 km is about 1.86 miles.",
    ]
    assert (
        bad.count == 1
        and "record 2: conversations: message 0: the conversation opens with an assistant turn"
        in bad.examples[0]
    )
    with pytest.raises(BadRecord, match=r"sharegpt.json: record 2: .*opens with an assistant turn"):
        list(
            table.read_rows(str(FIX / "chat" / "sharegpt.json"), {"conversations": "conversations"})
        )


def test_one_tool_call_in_openai_and_sharegpt_gives_one_training_text(tmp_path: Path) -> None:
    """The same call, as each format stores it: OpenAI's arguments a JSON string (compact, as
    models emit it), ShareGPT's a JSON object inside the function_call value (glaive's layout)."""
    args = {"city": "北京", "days": 2, "units": ["c"]}
    openai_row = {
        "messages": [
            {"role": "user", "content": "Weather in Beijing?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "get_forecast",
                            "arguments": json.dumps(
                                args, ensure_ascii=False, separators=(",", ":")
                            ),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"high": 3}'},
            {"role": "assistant", "content": "3 degrees at most."},
        ]
    }
    sharegpt_row = {
        "conversations": [
            {"from": "human", "value": "Weather in Beijing?"},
            {
                "from": "function_call",
                "value": json.dumps({"name": "get_forecast", "arguments": args}),
            },
            {"from": "observation", "value": '{"high": 3}'},
            {"from": "gpt", "value": "3 degrees at most."},
        ]
    }
    (tmp_path / "openai.jsonl").write_text(json.dumps(openai_row) + "\n", encoding="utf-8")
    (tmp_path / "sharegpt.json").write_text(json.dumps([sharegpt_row], indent=1), encoding="utf-8")
    [(_, _, a)] = table.read_rows(str(tmp_path / "openai.jsonl"), {"conversations": "messages"})
    [(_, _, b)] = table.read_rows(
        str(tmp_path / "sharegpt.json"), {"conversations": "conversations"}
    )
    assert a == b
    assert a[1] == 'Tool call: get_forecast {"city": "北京", "days": 2, "units": ["c"]}'


def test_sharegpt_function_call_that_is_no_call_is_a_bad_record(tmp_path: Path) -> None:
    rows = [
        {
            "conversations": [
                {"from": "human", "value": "Hi"},
                {"from": "function_call", "value": v},
                {"from": "observation", "value": "{}"},
                {"from": "gpt", "value": "Done."},
            ]
        }
        for v in (
            '[{"name": "a", "arguments": {}}, {"name": "b"}]',
            "get_time()",
            '{"arguments": {}}',
        )
    ]
    (tmp_path / "calls.json").write_text(json.dumps(rows))
    bad = BadRecords("skip")
    got = [
        t
        for _, _, t in table.read_rows(
            str(tmp_path / "calls.json"), {"conversations": "conversations"}, bad
        )
    ]
    assert got == [
        ["Hi", "Tool call: a {}\nTool call: b", "Tool result:\n{}", "Done."]
    ]  # parallel calls
    assert bad.count == 2 and all(
        'message 1: function_call: expected a JSON object {"name"' in m for m in bad.examples
    )


def test_chat_turns_render_through_the_template_with_loss_on_assistant_turns_only() -> None:
    """System and tool text sit inside user turns (no loss), tool calls inside assistant turns."""
    from limalab.data.chat import IGNORE, ChatFormat

    tok = _char_tokenizer()
    turns = next(
        table.read_rows(str(FIX / "chat" / "openai.jsonl"), {"conversations": "messages"})
    )[2]
    ids, labels = ChatFormat(tok).encode_dialogue(turns, 10**6)
    trained = "".join(
        tok.convert_ids_to_tokens([i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE])
    )
    assert "get_weather" in trained and "4 degrees" in trained
    assert "one sentence" not in trained and "temp_c" not in trained and "Oslo?" not in trained


def _char_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|eot|>"]
    chars = sorted(set((FIX / "chat" / "openai.jsonl").read_text()) | set(" \n"))
    vocab = {t: i for i, t in enumerate(specials + [c for c in chars if c not in specials])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=specials[4:],
    )


# --- Natural Instructions: instances, not the shared definition ---------------------------------


def test_natural_instructions_dedup_compares_instances_not_the_definition() -> None:
    from limalab.data.clean import clean_pool
    from limalab.data.sources import source_pool

    pool, stats = source_pool(
        {"name": "ni", "reader": "natural_instructions"}, FIX / "ni_shared_definition", seed=0
    )
    steps = [
        {"name": "exact_dedup", "field": "prompt"},
        {"name": "near_dedup", "field": "text", "threshold": 0.5},
    ]
    kept = clean_pool(pool, steps, stats, "ni", Path)
    assert len(kept) == len(pool) == 8 and stats["near_dedup"] == 0
    assert [ex.meta["task"] for ex in kept[:2]] != [
        kept[0].meta["task"]
    ] * 2  # round-robin: tasks first
    capped, stats = source_pool(
        {"name": "ni", "reader": "natural_instructions", "per_task": 1},
        FIX / "ni_shared_definition",
        seed=0,
    )
    assert len(capped) == 2 and stats["select:per_task"] == 6 and stats["input"] == 8


def test_natural_instructions_instances_without_ids_get_task_and_index(tmp_path: Path) -> None:
    d = copy(FIX / "natural_instructions", tmp_path)
    task = json.loads((d / "tasks" / "task001_paraphrase.json").read_text())
    task["Definition"] = task["Definition"][0]  # early files: a string, not a list
    for inst in task["Instances"]:
        del inst["id"]
    (d / "tasks" / "task001_paraphrase.json").write_text(json.dumps(task))
    [(_, definition, instances)] = list(natural_instructions.read_tasks(d))
    assert definition.startswith("In this task") and [i["id"] for i in instances] == [
        "task001_paraphrase-0",
        "task001_paraphrase-1",
    ]


# --- files that are not the format at all: one BadRecord naming the file, under both policies ---

WORDPRESS_EXPORT = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
\t<title>Travel notes</title>
\t<wp:wxr_version>1.2</wp:wxr_version>
\t<item>
\t\t<title>Day one</title>
\t\t<content:encoded><![CDATA[<p>We left early.</p>]]></content:encoded>
\t\t<wp:post_id>12</wp:post_id>
\t</item>
</channel>
</rss>
"""


@pytest.mark.parametrize("policy", ["error", "skip"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            WORDPRESS_EXPORT,
            r"Posts.xml: root element <rss>; "
            r"expected <posts> \(a Stack Exchange dump's Posts.xml\)",
        ),
        (
            '\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n<posts>\r\n</posts>\r\n',
            r"Posts.xml: no <row> elements; expected a Stack Exchange dump's Posts.xml",
        ),
        ('<?xml version="1.0" encoding="utf-8"?>\n<posts/>', r"Posts.xml: no <row> elements"),
    ],
    ids=["wordpress_export", "no_rows_bom_crlf", "empty_posts_element"],
)
def test_stackexchange_posts_xml_that_is_no_dump_is_an_error(
    tmp_path: Path, content: str, message: str, policy: str
) -> None:
    site = tmp_path / "travel.stackexchange.com"
    site.mkdir()
    (site / "Posts.xml").write_text(content, encoding="utf-8", newline="")
    with pytest.raises(BadRecord, match=re.escape(f"{site}/") + message):
        list(stackexchange.read_threads(site, BadRecords(policy)))


LFS = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 1073741824\n"
)

# reader: (file to write the pointer to, relative to tmp_path; how the reader is called on tmp_path)
POINTED = {
    "stackexchange": (
        "bitcoin.stackexchange.com/Posts.xml",
        lambda d, b: list(stackexchange.read_threads(d / "bitcoin.stackexchange.com", b)),
    ),
    "lima_jsonl": (
        "train.jsonl",
        lambda d, b: list(lima_jsonl.read_conversations(d / "train.jsonl", b)),
    ),
    "alpaca": (
        "alpaca_data.json",
        lambda d, b: list(alpaca.read_records(d / "alpaca_data.json", b)),
    ),
    "table_json": (
        "chat.json",
        lambda d, b: list(table.read_rows(str(d / "chat.json"), {"conversations": "c"}, b)),
    ),
    "table_jsonl": (
        "chat.jsonl",
        lambda d, b: list(table.read_rows(str(d / "chat.jsonl"), {"conversations": "c"}, b)),
    ),
    "table_parquet": (
        "t.parquet",
        lambda d, b: list(table.read_rows(str(d / "t.parquet"), {"conversations": "c"}, b)),
    ),
    "wikihow": (
        "wikihowAll.csv",
        lambda d, b: list(wikihow.read_articles(d / "wikihowAll.csv", b)),
    ),
    "natural_instructions": (
        "tasks/task001_x.json",
        lambda d, b: list(natural_instructions.read_tasks(d, b)),
    ),
    "writingprompts": (
        "train.wp_target",
        lambda d, b: list(writingprompts.read_pairs(d, "train", b)),
    ),
}


@pytest.mark.parametrize("reader", sorted(POINTED))
def test_a_git_lfs_pointer_is_named_as_one(tmp_path: Path, reader: str) -> None:
    """A clone without git-lfs holds pointers where the data should be; every reader says so."""
    name, read = POINTED[reader]
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(LFS)
    if reader == "writingprompts":
        (tmp_path / "train.wp_source").write_text("[ WP ] A prompt.\n")
    with pytest.raises(
        BadRecord, match=f"{name.split('/')[-1]}: a Git LFS pointer, not the data file"
    ):
        read(tmp_path, BadRecords("error"))
    if reader != "natural_instructions":  # a task file of a directory is skipped and counted there
        with pytest.raises(BadRecord, match="a Git LFS pointer"):
            read(tmp_path, BadRecords("skip"))


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_lima_jsonl_on_a_json_array_is_one_error_naming_the_file(
    tmp_path: Path, policy: str
) -> None:
    p = tmp_path / "glaive_toolcall.json"
    rows = [
        {"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}
        for i in range(3)
    ]
    p.write_text(
        "\ufeff" + json.dumps(rows, indent=2), encoding="utf-8"
    )  # many lines, none an object
    bad = BadRecords(policy)
    with pytest.raises(
        BadRecord, match=r"glaive_toolcall.json: a JSON array; expected JSON Lines.*reader: table"
    ):
        list(lima_jsonl.read_conversations(p, bad))
    assert bad.count == 0
