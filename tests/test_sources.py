"""Sources: the group-by where the data lives (DuckDB files and globs, a real PostgreSQL) gives the pandas path's
numbers to the cent, reads only, and says what to fix."""

from __future__ import annotations

import decimal
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pg_server import PostgresServer, binaries
from tools.analysis import analyze
from tools.loading import DataError, load_dataset
from tools.sources import PandasSource, load_source, open_and_load, redact
from tools.sql import check_select


def wide_frame(seed: int, rows: int = 400) -> pd.DataFrame:
    """Amounts in cents and counts, with a planted drop in one country × platform."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "country": rng.choice(["DE", "FR", "UK", "IT", "ES"], rows),
            "platform": rng.choice(["ios", "android", "web"], rows),
            "revenue_before": rng.integers(0, 1_000_000, rows) / 100,
            "revenue_after": rng.integers(0, 1_000_000, rows) / 100,
            "orders_before": rng.integers(0, 40, rows),
            "orders_after": rng.integers(0, 40, rows),
            "users_before": rng.integers(40, 90, rows),
            "users_after": rng.integers(40, 90, rows),
        }
    )
    planted = (frame["country"] == "FR") & (frame["platform"] == "android")
    frame.loc[planted, "revenue_after"] = (frame.loc[planted, "revenue_before"] * 0.5).round(2)
    return frame


def figures(analysis: dict) -> dict:
    """Every number a summary may state, rounded to the cent (rates to 1e-9), keyed by what it is."""

    def cent(value):
        return None if value is None else round(float(value), 2)

    result = {f"total.{k}": cent(v) for k, v in analysis["totals"].items()}
    for dimension, rows in analysis["breakdowns"].items():
        for row in rows:
            for column in ("before", "after", "abs_change", "pct_change", "contribution_pct"):
                result[f"{dimension}={row[dimension]}.{column}"] = cent(row[column])
    for row in analysis["top_slices"]:
        result[f"slice {row['label']}"] = (cent(row["before"]), cent(row["after"]))
    if analysis["ratio"]:
        for key in ("before", "after", "rate_effect", "mix_effect"):
            result[f"ratio.{key}"] = round(analysis["ratio"][key], 9)
    return result


def cents(value):
    """Every float in a JSON-like value rounded to the cent: sums in another order differ in float noise only."""
    if isinstance(value, dict):
        return {key: cents(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cents(item) for item in value]
    return round(value, 2) if isinstance(value, float) else value


def test_pandas_source_is_the_reference_path(tmp_path):
    frame = wide_frame(1)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    reference = analyze(load_dataset(tmp_path / "sales.csv"), metric="revenue")
    dataset = load_source(PandasSource(frame, "sales.csv"))
    assert dataset.engine == "pandas" and dataset.rows_scanned == len(frame)
    assert figures(analyze(dataset, metric="revenue")) == figures(reference)


@pytest.mark.parametrize("kind", ["csv", "parquet", "glob"])
def test_duckdb_files_match_pandas_to_the_cent(tmp_path, kind):
    frame = wide_frame(2)
    if kind == "glob":  # three files of one table, read as one
        for part in range(3):
            frame.iloc[part::3].to_parquet(tmp_path / f"sales-{part}.parquet", index=False)
        location = str(tmp_path / "sales-*.parquet")
    else:
        location = str(tmp_path / f"sales.{kind}")
        frame.to_csv(location, index=False) if kind == "csv" else frame.to_parquet(location, index=False)
    frame.to_csv(tmp_path / "reference.csv", index=False)
    reference = load_dataset(tmp_path / "reference.csv")
    dataset = open_and_load(location)
    assert dataset.engine == "duckdb"
    assert dataset.rows_scanned == len(frame) == dataset.describe()["rows_scanned"]
    assert len(dataset.frame) == 15  # 5 countries × 3 platforms: the agent's df is the segment table
    assert dataset.warnings[0].startswith(f"Computed by duckdb: {len(frame):,} rows")
    for options in ({"metric": "revenue"}, {"ratio": "orders/users"}):
        assert figures(analyze(dataset, **options)) == figures(analyze(reference, **options))
    top = analyze(dataset, metric="revenue")["top_slices"][0]
    assert top["slice"]["country"] == "FR"  # the planted drop


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(1, 300),
    long=st.booleans(),
)
def test_duckdb_matches_pandas_on_generated_tables(tmp_path, seed, rows, long):
    """Any table of cents, wide or long (a period column), gives the same figures through either engine."""
    frame = wide_frame(seed, rows)
    if long:  # one row per segment and period, some segments in one period only
        before = frame[["country", "platform"]].assign(period="2024", revenue=frame["revenue_before"])
        after = frame[["country", "platform"]].assign(period="2025", revenue=frame["revenue_after"])
        frame = pd.concat([before, after.iloc[: max(1, rows // 2)]], ignore_index=True)
        if frame["period"].nunique() < 2:
            return
    path = tmp_path / f"t{seed}-{rows}-{long}.parquet"
    frame.to_parquet(path, index=False)
    reference = analyze(load_dataset(path), metric="revenue")
    assert figures(analyze(open_and_load(str(path)), metric="revenue")) == figures(reference)


def daily_frame() -> pd.DataFrame:
    """21 days × 3 countries of cents, dates as ISO text."""
    rng = np.random.default_rng(5)
    days = pd.date_range("2026-10-01", periods=21, freq="D").strftime("%Y-%m-%d")
    rows = [
        (day, country, float(rng.integers(100, 10_000)) / 100)
        for day in days
        for country in ["DE", "FR", "UK"]
    ]
    return pd.DataFrame(rows, columns=["date", "country", "revenue"])


def test_duckdb_long_daily_table_with_windows(tmp_path):
    """A daily long table compared week over week: same windows, totals, breakdown and timing."""
    frame = daily_frame()
    frame.to_csv(tmp_path / "daily.csv", index=False)
    reference = load_dataset(tmp_path / "daily.csv", compare="wow")
    dataset = open_and_load(str(tmp_path / "daily.csv"), compare="wow")
    assert [w.label() for w in dataset.windows] == [w.label() for w in reference.windows]
    ours, theirs = analyze(dataset), analyze(reference)
    assert figures(ours) == figures(theirs)
    assert cents(ours["timing"]) == cents(theirs["timing"])


def test_duckdb_database_table_query_and_refusals(tmp_path):
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.register("frame", wide_frame(3))
        connection.execute("CREATE TABLE sales AS SELECT * FROM frame")
    dataset = open_and_load(f"duckdb://{path}?table=sales")
    assert dataset.engine == "duckdb" and dataset.rows_scanned == 400
    filtered = open_and_load(f"duckdb://{path}", query="SELECT * FROM sales WHERE country = 'DE'")
    assert filtered.rows_scanned == int((wide_frame(3)["country"] == "DE").sum())
    assert filtered.ignored == {"country": "one value in every row"}
    with pytest.raises(DataError, match=r"no table 'sale'. Tables: sales"):
        open_and_load(f"duckdb://{path}?table=sale")
    with pytest.raises(DataError, match="DELETE statement; only SELECT"):
        open_and_load(f"duckdb://{path}", query="DELETE FROM sales")
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM sales").fetchone()[0] == 400


def test_duckdb_timeout_interrupts_a_long_query(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    endless = (
        "SELECT CAST(range % 7 AS VARCHAR) AS country, range AS revenue_before, range AS revenue_after "
        "FROM range(10000000000000)"
    )
    with pytest.raises(DataError, match=r"ran past the 0.5 s limit and was cancelled"):
        open_and_load(f"duckdb://{path}", query=endless, timeout_s=0.5)


def test_errors_name_the_column_and_what_to_do(tmp_path):
    frame = wide_frame(4)
    frame["order_id"] = [f"A{i:08d}" for i in range(len(frame))]  # an id per row: no summary groups by it
    frame.to_parquet(tmp_path / "ids.parquet", index=False)
    with pytest.raises(DataError, match=r"'order_id' gives more than 100 segments.*Choose fewer dimensions"):
        open_and_load(str(tmp_path / "ids.parquet"), max_segments=100)
    assert len(open_and_load(str(tmp_path / "ids.parquet"), by=["country"]).frame) == 5
    with pytest.raises(DataError, match=r"no column 'region'\. Columns: country, platform"):
        open_and_load(str(tmp_path / "ids.parquet"), by=["region"])
    text = wide_frame(4).assign(revenue_after=lambda f: f["revenue_after"].map(lambda v: f"{v:,.2f} €"))
    text.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match=r"column 'revenue_after' holds numbers written as text"):
        open_and_load(str(tmp_path / "text.csv"))
    zips = wide_frame(4).assign(zip=lambda f: [f"{10000 + i % 50}" for i in range(len(f))])
    zips.to_parquet(
        tmp_path / "zips.parquet", index=False
    )  # codes written as digits are no amounts: no error
    loaded = open_and_load(str(tmp_path / "zips.parquet"))
    assert (
        loaded.dimensions == load_dataset(tmp_path / "zips.parquet").dimensions
    )  # as the file loader chooses
    assert "zip" in open_and_load(str(tmp_path / "zips.parquet"), by=["country", "zip"]).dimensions
    with pytest.raises(DataError, match="a table or a query applies to a database"):
        open_and_load(str(tmp_path / "ids.parquet"), query="SELECT * FROM source")
    with pytest.raises(DataError, match="no file matches"):
        open_and_load(str(tmp_path / "none-*.parquet"))


@pytest.mark.parametrize(
    "query, refusal",
    [
        ("DROP TABLE sales", "DROP statement"),
        ("SELECT 1; DELETE FROM sales", "2 statements"),
        ("WITH gone AS (DELETE FROM sales RETURNING *) SELECT * FROM gone", "contains DELETE"),
        ("SELECT * INTO copy FROM sales", "contains INTO"),
        ("COPY sales TO '/tmp/x.csv'", "COPY statement"),
        ("", "empty"),
    ],
)
def test_only_select_passes(query, refusal):
    with pytest.raises(DataError, match=refusal):
        check_select(query, dialect="postgres")


def test_select_passes():
    check_select(
        "WITH recent AS (SELECT * FROM sales WHERE day > '2026-01-01') SELECT * FROM recent",
        dialect="postgres",
    )
    check_select("SELECT country, sum(revenue) FROM sales GROUP BY 1 UNION ALL SELECT 'x', 1")


def test_redact_hides_passwords():
    assert (
        redact("postgresql://ann:s3cret@db:5432/shop?table=sales")
        == "postgresql://ann:***@db:5432/shop?table=sales"
    )
    assert redact("postgresql://ann@db/shop") == "postgresql://ann@db/shop"


# ----------------------------------------------------------------------------------------------------------------
# A real PostgreSQL server
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres():
    folder = binaries()
    if folder is None:
        pytest.skip(
            "PostgreSQL binaries (initdb, pg_ctl) are not installed: .ci/run installs Debian's postgresql"
        )
    server = PostgresServer(folder)
    server.start()
    try:
        frame = wide_frame(7, rows=2000)
        server.load("sales", frame)
        exact = frame.assign(
            revenue_before=frame["revenue_before"].map(lambda v: decimal.Decimal(f"{v:.2f}"))
        )
        server.load("sales_numeric", exact)  # numeric(18,2): summed exactly by the database
        long = pd.concat(
            [
                frame[["country", "platform"]].assign(year=2024, revenue=frame["revenue_before"]),
                frame[["country", "platform"]].assign(year=2025, revenue=frame["revenue_after"]),
            ],
            ignore_index=True,
        )
        server.load("sales_long", long)
        server.load("daily", daily_frame().assign(date=lambda f: pd.to_datetime(f["date"]).dt.date))
        with server.connect() as connection:
            connection.execute("CREATE SEQUENCE tickets")
        yield server, frame, long
    finally:
        server.stop()


def test_postgres_matches_pandas_to_the_cent(postgres, tmp_path):
    server, frame, long = postgres
    frame.to_csv(tmp_path / "sales.csv", index=False)
    reference = load_dataset(tmp_path / "sales.csv")
    for table in ("sales", "sales_numeric"):
        dataset = open_and_load(server.url(table))
        assert dataset.engine == "postgres" and dataset.rows_scanned == len(frame)
        for options in ({"metric": "revenue"}, {"ratio": "orders/users"}):
            assert figures(analyze(dataset, **options)) == figures(analyze(reference, **options))
    long.to_csv(tmp_path / "long.csv", index=False)
    long_dataset = open_and_load(server.url("sales_long"))
    assert long_dataset.layout == "long" and long_dataset.periods == ("2024", "2025")
    assert figures(analyze(long_dataset)) == figures(analyze(load_dataset(tmp_path / "long.csv")))


def test_postgres_date_column_compared_week_over_week(postgres, tmp_path):
    server, _, _ = postgres
    daily_frame().to_csv(tmp_path / "daily.csv", index=False)
    reference = load_dataset(tmp_path / "daily.csv", compare="wow")
    dataset = open_and_load(server.url("daily"), compare="wow")  # a DATE column, read as the file's ISO dates
    assert [w.label() for w in dataset.windows] == [w.label() for w in reference.windows]
    ours, theirs = analyze(dataset), analyze(reference)
    assert figures(ours) == figures(theirs) and cents(ours["timing"]) == cents(theirs["timing"])


def test_postgres_query_reads_only(postgres):
    server, frame, _ = postgres
    dataset = open_and_load(server.url(), query="SELECT * FROM sales WHERE platform = 'web'")
    assert dataset.rows_scanned == int((frame["platform"] == "web").sum())
    with pytest.raises(DataError, match="UPDATE statement"):
        open_and_load(server.url(), query="UPDATE sales SET revenue_after = 0")
    # What the check lets through, the read-only session refuses: nextval() writes.
    with pytest.raises(DataError, match="read-only transaction"):
        open_and_load(server.url(), query="SELECT nextval('tickets') AS ticket, * FROM sales")
    with server.connect() as connection:
        assert connection.execute("SELECT last_value, is_called FROM tickets").fetchone() == (1, False)


def test_postgres_timeout_cancels_a_long_query(postgres):
    server, _, _ = postgres
    with pytest.raises(DataError, match=r"ran past the 0.5 s limit and was cancelled"):
        open_and_load(server.url(), query="SELECT pg_sleep(30) AS nap, * FROM sales", timeout_s=0.5)
    with server.connect() as connection:  # the server stopped it: nothing is left running
        running = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
            "AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert running == 0


def test_postgres_errors_name_the_table(postgres):
    server, _, _ = postgres
    with pytest.raises(DataError, match=r"no table 'sale'\. Tables: daily, sales, sales_long, sales_numeric"):
        open_and_load(server.url("sale"))
    with pytest.raises(DataError, match=r"column \"revenu\" does not exist.*Fix the SELECT"):
        open_and_load(server.url(), query="SELECT revenu FROM sales")


def test_connection_errors_never_show_the_password(postgres):
    server, _, _ = postgres
    closed = f"postgresql://ann:hunter2secret@127.0.0.1:{server.port + 1}/kpi?table=sales"
    with pytest.raises(DataError) as error:
        open_and_load(closed)
    assert "hunter2secret" not in str(error.value) and "ann:***@" in str(error.value)


# ----------------------------------------------------------------------------------------------------------------
# The CLI: python -m agent run SOURCE
# ----------------------------------------------------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    from agent.cli import main

    code = main(["run", *argv, "--executor", "local", "--json"])
    out, err = capsys.readouterr()
    return code, out + err


def test_cli_reads_a_parquet_glob_with_duckdb(tmp_path, capsys):
    frame = wide_frame(8)
    for part in range(2):
        frame.iloc[part::2].to_parquet(tmp_path / f"day-{part}.parquet", index=False)
    code, output = run_cli(capsys, str(tmp_path / "day-*.parquet"), "--metric", "revenue")
    result = json.loads(output.splitlines()[-1])
    assert code == 0 and result["status"] == "success"
    assert result["dataset"]["engine"] == "duckdb" and result["dataset"]["rows_scanned"] == len(frame)
    assert result["warnings"][0].startswith(f"Computed by duckdb: {len(frame):,} rows")
    frame.to_csv(tmp_path / "all.csv", index=False)
    expected = analyze(load_dataset(tmp_path / "all.csv"), metric="revenue")["totals"]
    assert {k: round(v, 2) for k, v in result["totals"].items()} == {
        k: round(v, 2) for k, v in expected.items()
    }


def test_cli_postgres_credentials_are_never_printed(postgres, tmp_path, capsys, monkeypatch):
    server, frame, _ = postgres
    # Trust authentication accepts any password: the run succeeds, and the password shows nowhere.
    with_password = server.url().replace("kpi_test@", "kpi_test:hunter2secret@")
    code, output = run_cli(capsys, with_password, "--table", "sales", "--metric", "revenue")
    assert code == 0 and json.loads(output.splitlines()[-1])["dataset"]["rows_scanned"] == len(frame)
    assert "hunter2secret" not in output
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        f'[connections.shop]\nurl = "{with_password}"\ntable = "sales"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    code, output = run_cli(capsys, "secrets:shop", "--metric", "revenue")
    assert code == 0 and json.loads(output.splitlines()[-1])["dataset"]["engine"] == "postgres"
    assert "hunter2secret" not in output
    # A query is more specific than the connection's table: it wins.
    query = "SELECT * FROM sales WHERE platform = 'web'"
    code, output = run_cli(capsys, "secrets:shop", "--query", query, "--metric", "revenue")
    assert json.loads(output.splitlines()[-1])["dataset"]["rows_scanned"] == int(
        (frame["platform"] == "web").sum()
    )
    code, output = run_cli(capsys, "secrets:nope")
    assert code == 2 and "no connection 'nope'" in output and "Connections: shop" in output


def test_cli_refuses_a_write_before_sending_it(postgres, capsys):
    server, _, _ = postgres
    code, output = run_cli(capsys, server.url(), "--query", "DELETE FROM sales")
    assert code == 2 and "only SELECT is allowed" in output and '--query "SELECT ..."' in output
    with server.connect() as connection:
        assert connection.execute("SELECT count(*) FROM sales").fetchone()[0] == 2000


# ----------------------------------------------------------------------------------------------------------------
# The page: Connect beside Sample and Upload, with the operator's connections
# ----------------------------------------------------------------------------------------------------------------


def page(connections: dict | None = None):
    from streamlit.testing.v1 import AppTest

    from tests.helpers import ROOT

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if connections is not None:
        app.secrets["connections"] = connections
    return app.run()


def test_page_offers_connect_only_with_operator_connections(tmp_path):
    app = page()
    assert not app.exception and app.radio(key="source").options == ["Sample", "Upload"]
    app = page({"broken": {"type": "sql"}})  # no url: not a connection this app can use
    assert app.radio(key="source").options == ["Sample", "Upload"]


def test_page_connects_to_a_duckdb_table_and_runs(tmp_path):
    path = tmp_path / "shop.duckdb"
    frame = wide_frame(9)
    with duckdb.connect(str(path)) as connection:
        connection.register("frame", frame)
        connection.execute("CREATE TABLE sales AS SELECT * FROM frame")
        connection.execute("CREATE TABLE returns AS SELECT country, revenue_before FROM frame")
    app = page({"shop": {"url": f"duckdb://{path}"}})
    app.radio(key="source").set_value("Connect").run()
    assert not app.exception
    assert app.selectbox(key="connection").options == ["shop"]
    assert app.selectbox(key="table-shop").options == ["returns", "sales"]
    app.selectbox(key="table-shop").set_value("sales").run()
    assert not app.exception, app.exception
    assert "400 rows → 15 segments" in app.markdown[0].value
    assert app.warning[0].value.startswith("Computed by duckdb: 400 rows of shop.duckdb:sales ")
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    app.run()
    assert not app.exception
    assert run.request.dataset.describe()["engine"] == "duckdb"
    assert run.result.to_json()["dataset"]["rows_scanned"] == 400


def test_page_connects_to_postgres_and_names_bad_tables(postgres, tmp_path):
    server, frame, _ = postgres
    app = page({"warehouse": {"url": server.url().replace("kpi_test@", "kpi_test:hunter2secret@")}})
    app.radio(key="source").set_value("Connect").run()
    assert app.selectbox(key="table-warehouse").options == ["daily", "sales", "sales_long", "sales_numeric"]
    app.selectbox(key="table-warehouse").set_value("sales_long").run()
    assert not app.exception
    assert app.warning[0].value.startswith(f"Computed by postgres: {2 * len(frame):,} rows")
    assert "long layout" in app.markdown[0].value
    shown = " ".join(
        str(element.value) for element in [*app.markdown, *app.warning, *app.error, *app.caption]
    )
    assert "hunter2secret" not in shown
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    app.run()
    trace = json.dumps(run.result.to_json(), default=str)
    assert run.result.to_json()["dataset"]["engine"] == "postgres" and "hunter2secret" not in trace
    saved = [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    assert (tmp_path / "history.sqlite").is_file()  # the run was saved to the history
    assert not any(b"hunter2secret" in data for data in saved)
    app = page({"warehouse": {"url": server.url(), "table": "gone"}})
    app.radio(key="source").set_value("Connect").run()
    assert [e.value for e in app.error] == [
        "kpi.gone: there is no table 'gone'. Tables: daily, sales, sales_long, sales_numeric."
    ]
