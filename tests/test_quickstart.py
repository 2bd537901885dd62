"""`pavenet quickstart` end to end on a shrunken SynthTrack-mini: every file it promises, each readable."""
from __future__ import annotations

import json
import re

import pytest

from pavenet_lite.cli import main
from pavenet_lite.data.synthtrack import PRESETS, preset_with
from pavenet_lite.quickstart import SHIPPED_CHECKPOINT


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.is_file(), reason="the shipped checkpoint is not in this checkout")
def test_quickstart_writes_data_previews_and_a_json_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(PRESETS, "mini", preset_with("mini", n_train=1, n_val=1, frames=6, people=(1, 2)))
    work = tmp_path / "qs"
    main(["quickstart", "--workdir", str(work)])
    printed = capsys.readouterr().out

    root = work / "synthtrack-mini"
    assert [p.parent.name for p in sorted((root / "annotations").rglob("*.json"))] == ["train", "val"]
    assert printed.count("GT-vs-GT mAP 100.0") == 2                   # the GT files obey the protocol
    for gif in ("preview.gif", "demo.gif"):
        assert (work / gif).read_bytes()[:6] in (b"GIF87a", b"GIF89a")

    result = json.loads((work / "mini_val_map.json").read_text())
    assert isinstance(result, dict), "mini_val_map.json must hold the table itself, not a JSON string of it"
    assert list(result["table"]) == ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]
    # The file holds the table the command printed (poseval's format, one decimal).
    cell = r"(?:[\d.]+|nan)"
    row = re.search(rf"^&\s*({cell}(?:\s*&\s*{cell}){{7}})\s*\\\\$", printed, re.M)
    assert row is not None, printed
    assert [c.strip() for c in row.group(1).split("&")] == [
        "nan" if v is None else "%1.1f" % v for v in result["table"].values()]
