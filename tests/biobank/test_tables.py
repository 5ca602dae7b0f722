"""The CSV reader every tabular importer shares: malformed files are refused by line."""

from __future__ import annotations

import pytest

from biobank.core.importing import ImportRejected, read_table


def read_all(tmp_path, text: str) -> list[tuple[int, dict[str, str]]]:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    _header, rows = read_table(path)
    return list(rows)


def problems(tmp_path, text: str):
    with pytest.raises(ImportRejected) as caught:
        read_all(tmp_path, text)
    return caught.value.problems


def test_a_quote_left_open_is_refused_with_its_line(tmp_path):
    found = problems(tmp_path, 'patient_id,sex\nP0,M\n"P1,F\n')

    assert len(found) == 1
    assert found[0].source == "t.csv" and found[0].row == 3
    assert "quote" in found[0].message


def test_text_after_a_closing_quote_is_refused(tmp_path):
    found = problems(tmp_path, 'patient_id,sex\n"P1"x,F\n')

    assert found[0].row == 2


def test_a_column_named_twice_is_refused_naming_it(tmp_path):
    found = problems(tmp_path, "patient_id,patient_id,sex\nP1,P2,F\n")

    assert [(p.row, p.field) for p in found] == [(1, "patient_id")]


def test_a_row_with_more_cells_than_columns_is_refused_with_its_line(tmp_path):
    found = problems(tmp_path, "patient_id,sex\nP1,F\nP2,M,1975\n")

    assert found[0].row == 3 and "3 cells" in found[0].message


def test_well_quoted_cells_and_trailing_empty_cells_are_read(tmp_path):
    rows = read_all(tmp_path, 'patient_id,note\nP1,"a, b ""c"""\nP2,x,,\n')

    assert rows == [
        (2, {"patient_id": "P1", "note": 'a, b "c"'}),
        (3, {"patient_id": "P2", "note": "x"}),
    ]
