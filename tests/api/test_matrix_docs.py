"""The examples of docs/matrix.md run as written on the demo of `bash dev.sh run`."""

from __future__ import annotations

import io
import re
import sys
import types

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from pandas.api.types import pandas_dtype
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from biobank import demo
from biobank.cohorts.matrix import matrix_columns
from tests.conftest import REPO

DOC = (REPO / "docs" / "matrix.md").read_text()
SERVED = "http://127.0.0.1:8000"


def example(section: str) -> str:
    """Return the first Python block under the doc's heading `section`."""
    text = DOC[DOC.index(f"## {section}\n") :]
    return re.search(r"```python\n(.*?)```", text, re.DOTALL)[1]


class Answer:
    """What the examples read of a requests.Response."""

    def __init__(self, response) -> None:
        self.status_code = response.status_code
        streamed = getattr(response, "streaming", False)
        self.content = (
            b"".join(response.streaming_content) if streamed else response.content
        )

    def raise_for_status(self) -> None:
        assert self.status_code == 200, self.content[:500]


def requests_through(client: APIClient) -> types.ModuleType:
    """A `requests` module whose get() asks the test server, as the doc's would."""

    def get(url: str, params=None, headers=None, timeout=None) -> Answer:
        assert url.startswith(SERVED), url
        signed = {"HTTP_AUTHORIZATION": headers["Authorization"]} if headers else {}
        return Answer(client.get(url.removeprefix(SERVED), params, **signed))

    module = types.ModuleType("requests")
    module.get = get
    return module


@pytest.fixture
def served_demo(db, monkeypatch):
    """The demo, its user signed in with the doc's token, and requests pointed at it."""
    demo.build_demo()
    user = get_user_model().objects.get(username=demo.DEMO_USERNAME)
    Token.objects.create(user=user, key=re.search(r"Token ([0-9a-f]{40})", DOC)[1])
    requests = requests_through(APIClient())
    monkeypatch.setitem(sys.modules, "requests", requests)
    return requests


def test_the_pandas_example_reads_the_same_frame_from_every_format(served_demo, capsys):
    namespace: dict = {}
    exec(example("In pandas"), namespace)  # noqa: S102 - the doc's own example

    matrix = namespace["matrix"]
    assert len(matrix) > 0 and "DEMO-" in capsys.readouterr().out
    # Columns empty in the demo (no histology or T stage) keep their dtypes:
    assert matrix["histology"].isna().all()
    for frame in (namespace["matrix_csv"], namespace["matrix_json"]):
        assert frame.dtypes.astype(str).to_dict() == matrix.dtypes.astype(str).to_dict()
        pd.testing.assert_frame_equal(frame, matrix)
    for name, dtype, _ in matrix_columns():
        if name in matrix:
            assert matrix[name].dtype == pandas_dtype(dtype), name


def test_the_docs_dtypes_are_the_products_for_every_column():
    """A column added to the matrix must be added to the doc's dtypes too."""
    definitions = example("In pandas").split("\nmatrix = ")[0]
    namespace: dict = {}
    exec(definitions.replace("import requests\n", ""), namespace)  # noqa: S102
    matrix_dtype = namespace["matrix_dtype"]
    relative = {
        "study_date_days": "Int64",
        "drawn_at_days": "Float64",
        "diagnosis_on_days": "Int64",
        "drawn_on_days": "Int64",
        "date_reference": "string",
    }

    for name, dtype in [*((n, d) for n, d, _ in matrix_columns()), *relative.items()]:
        assert pandas_dtype(matrix_dtype(name)) == pandas_dtype(dtype), name


@pytest.mark.parametrize("dates", ["shifted", "relative"])
def test_read_matrix_gives_the_parquet_dtypes_in_every_date_mode(dates, served_demo):
    namespace: dict = {}
    exec(example("In pandas"), namespace)  # noqa: S102 - the doc's own example
    namespace["QUERY"]["dates"] = dates
    read_matrix, download = namespace["read_matrix"], namespace["download"]

    matrix = pd.read_parquet(io.BytesIO(download("parquet")))

    assert len(matrix) > 0
    for fmt in ("csv", "json"):
        pd.testing.assert_frame_equal(read_matrix(download(fmt), fmt), matrix)


def test_an_empty_export_reads_as_the_doc_says_in_every_format(served_demo):
    namespace: dict = {}
    exec(example("In pandas"), namespace)  # noqa: S102 - the doc's own example
    namespace["QUERY"]["min_ctc"] = 100_000  # no demo draw has as many
    read_matrix, download = namespace["read_matrix"], namespace["download"]

    matrix = pd.read_parquet(io.BytesIO(download("parquet")))
    from_csv = read_matrix(download("csv"), "csv")
    from_json = read_matrix(download("jsonl"), "jsonl")

    assert matrix.empty and len(matrix.columns) > 20
    pd.testing.assert_frame_equal(from_csv, matrix)
    # JSON Lines has no line to name the columns by, as the doc says of it:
    assert from_json.shape == (0, 0)
    assert 'read_matrix(b"", "jsonl")` gives a\nframe without columns' in DOC


def test_robust_readers_is_refused_on_the_demo_as_the_doc_says(served_demo):
    namespace: dict = {}
    exec(example("In pandas"), namespace)  # noqa: S102 - the doc's own example

    answer = served_demo.get(
        f"{namespace['API']}/cohort-matrix/",
        params={**namespace["QUERY"], "robust": "readers"},
        headers=namespace["HEADERS"],
    )

    assert answer.status_code == 400
    assert b'"robust"' in answer.content


def test_the_python_example_builds_and_writes_the_matrix(
    served_demo, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}

    exec(example("From Python, without HTTP"), namespace)  # noqa: S102

    written = pd.read_parquet(tmp_path / "matrix.parquet")
    pd.testing.assert_frame_equal(written, namespace["frame"])
    assert len(written) > 0
