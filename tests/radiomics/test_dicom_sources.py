"""Which files of a folder the DICOM ingest reads, and in which order (sources.py)."""

from __future__ import annotations

import os
from pathlib import Path

from radiomics.importers.sources import _is_hidden, open_sources


def write_tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())


def test_a_folder_gives_its_files_below_in_path_order_but_hidden_ones(tmp_path):
    write_tree(
        tmp_path,
        [
            "b.dcm",
            "B.dcm",
            "a-c.dcm",
            "a/b.dcm",
            "a/b/c/d.dcm",
            "a b/é.dcm",
            ".DS_Store",
            "a/.hidden/x.dcm",
            "__MACOSX/a/y.dcm",
            "z/__MACOSX/q.dcm",
        ],
    )
    # A link to a file is read; a link to a folder is not followed, as rglob() does:
    os.symlink(tmp_path / "b.dcm", tmp_path / "link.dcm")
    os.symlink(tmp_path / "a", tmp_path / "linked-folder")
    os.symlink(tmp_path / "nothing", tmp_path / "broken.dcm")

    with open_sources(tmp_path) as sources:
        found = [(source.name, source.open().read()) for source in sources]

    expected = sorted(
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and not _is_hidden(path.relative_to(tmp_path).as_posix())
    )
    assert [name for name, _data in found] == [
        path.relative_to(tmp_path).as_posix() for path in expected
    ]
    assert [name for name, _data in found] == [
        "B.dcm",
        "a/b/c/d.dcm",
        "a/b.dcm",
        "a b/é.dcm",
        "a-c.dcm",
        "b.dcm",
        "link.dcm",
    ]
    assert dict(found)["link.dcm"] == b"b.dcm"
    assert dict(found)["a/b.dcm"] == b"a/b.dcm"
