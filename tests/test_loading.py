import io

import pandas as pd
import pytest

from tests.helpers import REVENUE_TSV
from tools.loading import DataError, load_dataset, order_periods, sniff_delimiter


def revenue(dataset) -> dict[str, tuple[float, float]]:
    before, after = dataset.metric_columns("revenue")  # any case: "Revenue 2023" makes the metric Revenue
    return {str(row[dataset.dimensions[0]]): (row[before], row[after]) for _, row in dataset.frame.iterrows()}


# --- formats ---------------------------------------------------------------------------------------------------


def test_tsv_example_loads(revenue_file):
    dataset = load_dataset(revenue_file)
    assert dataset.dimensions == ["country"]
    assert dataset.metrics == ["revenue"]
    assert dataset.layout == "wide"
    assert revenue(dataset)["France"] == (240704.63, 107857.06)
    assert dataset.warnings == []


@pytest.mark.parametrize("delimiter", [",", ";", "|", "\t"])
def test_delimiter_is_sniffed(write_file, delimiter):
    text = REVENUE_TSV.replace("\t", delimiter)
    dataset = load_dataset(write_file("data.txt", text))
    assert revenue(dataset)["UK"] == (481409.27, 477033.02)


def test_utf8_bom_and_quoted_delimiters(write_file):
    text = '\ufeffcountry,revenue_before,revenue_after\n"Bosnia, and Herzegovina",10,12\nUK,5,4\n'
    dataset = load_dataset(write_file("bom.csv", text))
    assert dataset.dimensions == ["country"]  # the BOM is not part of the first column's name
    assert revenue(dataset)["Bosnia, and Herzegovina"] == (10.0, 12.0)


def test_utf16_text_from_excel_is_transcoded(write_file):
    dataset = load_dataset(write_file("unicode.txt", REVENUE_TSV.encode("utf-16")))
    assert revenue(dataset)["Spain"] == (96281.86, 96064.77)


def test_messy_numbers(write_file):
    text = 'country,revenue_before,revenue_after\nUS,"$1,234.50","$1,300.00"\nFR,1 234,(5.00)\nDE,12%,13%\n'
    dataset = load_dataset(write_file("messy.csv", text))
    values = revenue(dataset)
    assert values["US"] == (1234.5, 1300.0)
    assert values["FR"] == (1234.0, -5.0)
    assert values["DE"] == (12.0, 13.0)


def test_excel_file(write_file, tmp_path):
    path = tmp_path / "revenue.xlsx"
    frame = pd.read_csv(io.StringIO(REVENUE_TSV), sep="\t")
    frame.to_excel(path, index=False)
    dataset = load_dataset(path)
    assert revenue(dataset)["France"] == (240704.63, 107857.06)


def test_parquet_file(tmp_path):
    path = tmp_path / "revenue.parquet"
    pd.read_csv(io.StringIO(REVENUE_TSV), sep="\t").to_parquet(path)
    dataset = load_dataset(path)
    assert revenue(dataset)["Italy"] == (120352.31, 121331.46)


def test_bytes_and_file_objects_load(revenue_file):
    data = revenue_file.read_bytes()
    assert revenue(load_dataset(data, name="upload.tsv"))["UK"][0] == 481409.27
    assert revenue(load_dataset(io.BytesIO(data), name="upload.tsv"))["UK"][0] == 481409.27


# --- wide layouts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "periods"),
    [
        ("revenue_before", "revenue_after", ("before", "after")),
        ("revenue_prev", "revenue_curr", ("prev", "curr")),
        ("revenue_old", "revenue_new", ("old", "new")),
        ("revenue_last", "revenue_this", ("last", "this")),
        ("Revenue 2023", "Revenue 2024", ("2023", "2024")),
        ("before_revenue", "after_revenue", ("before", "after")),
        ("revenue.pre", "revenue.post", ("pre", "post")),
    ],
)
def test_wide_pairs(write_file, before, after, periods):
    dataset = load_dataset(write_file("data.csv", f"country,{before},{after}\nUK,1,2\nFR,3,4\n"))
    assert dataset.metrics == ["Revenue" if before.startswith("R") else "revenue"]  # as the file writes it
    assert dataset.periods == periods
    assert revenue(dataset)["FR"] == (3.0, 4.0)


def test_years_in_reverse_column_order(write_file):
    dataset = load_dataset(write_file("data.csv", "country,sales_2024,sales_2023\nUK,2,1\n"))
    row = dataset.frame.iloc[0]
    assert (row["sales_before"], row["sales_after"]) == (1.0, 2.0)


def test_before_after_alone_takes_metric_from_file_name(write_file):
    dataset = load_dataset(write_file("revenue_by_country.csv", "country,before,after\nUK,1,2\n"))
    assert dataset.metrics == ["revenue"]
    other = load_dataset(write_file("numbers.csv", "country,before,after\nUK,1,2\n"))
    assert other.metrics == ["value"]


def test_several_metrics(write_file):
    text = "country,revenue_before,revenue_after,orders_before,orders_after\nUK,10,12,1,2\n"
    dataset = load_dataset(write_file("data.csv", text))
    assert dataset.metrics == ["revenue", "orders"]
    assert load_dataset(write_file("data.csv", text), metrics=["orders"]).metrics == ["orders"]


def test_scenarios_default_to_first_with_a_warning(write_file):
    text = "country,revenue_before,revenue_after_scenario_1,revenue_after_scenario_2\nUK,10,12,20\n"
    dataset = load_dataset(write_file("data.csv", text))
    assert dataset.frame.iloc[0]["revenue_after"] == 12.0
    assert (dataset.scenario, dataset.scenarios) == ("scenario_1", ["scenario_1", "scenario_2"])
    assert any("'scenario_2'" in w and "--after" not in w for w in dataset.warnings)
    chosen = load_dataset(write_file("data.csv", text), after="revenue_after_scenario_2")
    assert chosen.frame.iloc[0]["revenue_after"] == 20.0
    assert chosen.scenario == "scenario_2"
    assert chosen.warnings == []


def test_unknown_after_column_is_refused(write_file):
    text = "country,revenue_before,revenue_after_scenario_1\nUK,10,12\n"
    with pytest.raises(DataError, match="'nope' is not an 'after' column"):
        load_dataset(write_file("data.csv", text), after="nope")
    scenarios = "country,revenue_before,revenue_after_scenario_1,revenue_after_scenario_2\nUK,10,12,20\n"
    with pytest.raises(
        DataError, match=r"'nope' is neither a scenario nor an 'after' column.*scenario_1, scenario_2"
    ):
        load_dataset(write_file("data.csv", scenarios), after="nope")


def test_by_chooses_dimensions_and_numeric_columns_can_be_dimensions(write_file):
    text = "country,store,platform,revenue_before,revenue_after\nUK,101,iOS,1,2\nUK,102,iOS,3,4\n"
    auto = load_dataset(write_file("data.csv", text))
    assert auto.dimensions == ["country", "platform"]
    assert any("'store'" in w for w in auto.warnings)
    chosen = load_dataset(write_file("data.csv", text), by=["store"])
    assert chosen.dimensions == ["store"]
    assert sorted(chosen.frame["store"].astype(str)) == ["101", "102"]


def test_by_unknown_column(write_file):
    with pytest.raises(DataError, match="there is no column 'region' to use as the dimension") as error:
        load_dataset(write_file("data.csv", "country,revenue_before,revenue_after\nUK,1,2\n"), by=["region"])
    assert error.value.setting == "by"


# --- long layouts ----------------------------------------------------------------------------------------------


def test_long_layout_with_word_periods(write_file):
    text = "period,country,revenue\nafter,UK,12\nbefore,UK,10\nbefore,FR,5\nafter,DE,7\n"
    dataset = load_dataset(write_file("long.csv", text))
    assert dataset.layout == "long"
    assert dataset.periods == ("before", "after")
    values = revenue(dataset)
    assert values == {"UK": (10.0, 12.0), "FR": (5.0, 0.0), "DE": (0.0, 7.0)}
    assert dataset.warnings == []


def test_long_layout_with_dates_orders_chronologically(write_file):
    text = "date,country,revenue,orders\n2024-02-01,UK,12,3\n2024-01-01,UK,10,2\n"
    dataset = load_dataset(write_file("long.csv", text))
    assert dataset.periods == ("2024-01-01", "2024-02-01")
    assert dataset.metrics == ["revenue", "orders"]
    assert revenue(dataset)["UK"] == (10.0, 12.0)


def test_long_layout_unknown_order_warns_and_can_be_overridden(write_file):
    text = "phase,country,revenue\nspring,UK,12\nautumn,UK,10\n"
    dataset = load_dataset(write_file("long.csv", text))
    assert dataset.periods == ("spring", "autumn")
    assert any("Swap the periods" in w and "--" not in w for w in dataset.warnings)
    flipped = load_dataset(write_file("long.csv", text), periods=["autumn", "spring"])
    assert revenue(flipped)["UK"] == (10.0, 12.0)


def test_long_layout_more_than_two_periods_needs_a_choice(write_file):
    text = "stage,country,revenue\nalpha,UK,1\nbeta,UK,2\ngamma,UK,3\n"
    with pytest.raises(DataError, match="choose the two periods to compare") as error:
        load_dataset(write_file("long.csv", text), period_column="STAGE")
    assert error.value.setting == "periods"
    chosen = load_dataset(write_file("long.csv", text), period_column="stage", periods=["Alpha", "gamma"])
    assert revenue(chosen)["UK"] == (1.0, 3.0)


def test_long_layout_named_period_column(write_file):
    text = "snap,country,revenue\nA,UK,1\nB,UK,2\n"
    dataset = load_dataset(write_file("long.csv", text), period_column="snap")
    assert dataset.period_column == "snap"
    assert revenue(dataset)["UK"] == (1.0, 2.0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["after", "before"], ["before", "after"]),
        (["Q1 2024", "Q4 2023"], ["Q4 2023", "Q1 2024"]),
        (["2024", "2023"], ["2023", "2024"]),
        (["this", "last"], ["last", "this"]),
        (["treatment", "control"], ["control", "treatment"]),
    ],
)
def test_period_order(values, expected):
    ordered, certain = order_periods(values)
    assert ordered == expected
    assert certain


# --- fixing and leaving out rows -------------------------------------------------------------------------------


def test_duplicate_segments_are_summed_with_a_warning(write_file):
    text = "country,revenue_before,revenue_after\nUK,1,2\nFR,5,5\nUK,10,20\n"
    dataset = load_dataset(write_file("dup.csv", text))
    assert revenue(dataset)["UK"] == (11.0, 22.0)
    assert len(dataset.frame) == 2
    assert any("row 4" in w and "country=UK" in w and "summed" in w for w in dataset.warnings)


def test_missing_and_non_numeric_values_are_left_out_with_row_and_segment(write_file):
    text = "country,revenue_before,revenue_after\nUK,1,2\nFR,,5\nDE,3,abc\nES,4,4\n"
    dataset = load_dataset(write_file("gaps.csv", text))
    assert set(revenue(dataset)) == {"UK", "ES"}
    warning = next(w for w in dataset.warnings if "left out" in w)
    assert "row 3 (country=FR: revenue_before)" in warning
    assert "row 4 (country=DE: revenue_after)" in warning


def test_ragged_rows_are_left_out_with_their_line(write_file):
    text = "country,revenue_before,revenue_after\nUK,1,2\nFR,1,2,3\nDE,3,4\n"
    dataset = load_dataset(write_file("ragged.csv", text))
    assert set(revenue(dataset)) == {"UK", "DE"}
    assert any("line 3" in w for w in dataset.warnings)


def test_missing_dimension_value_is_labelled(write_file):
    dataset = load_dataset(write_file("d.csv", "country,revenue_before,revenue_after\n,1,2\nUK,1,1\n"))
    assert "(missing)" in revenue(dataset)


# --- bad files: one clear error each ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("blank.csv", b"\n\n  \n", "blank.csv: the file is empty"),
        ("header.csv", b"country,revenue_before,revenue_after\n", "header but no data rows"),
        ("nopair.csv", b"country,revenue,orders\nUK,1,2\n", "found no before/after pair"),
        ("text.csv", b"country,city\nUK,London\n", "found no before/after pair"),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text table"),
        (
            "latin.csv",
            "country,revenue_before,revenue_after\nMünchen,1,2\n".encode("latin-1"),
            "line 2 holds bytes",
        ),
        ("onecol.csv", b"justonecolumn\n1\n2\n", "could not find a delimiter"),
        (
            "dupcols.csv",
            b"country,country,revenue_before,revenue_after\nUK,UK,1,2\n",
            "appear more than once",
        ),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel"),
        ("broken.xlsx", b"PK\x03\x04not really a zip", "could not be read as an Excel workbook"),
        ("broken.parquet", b"PAR1garbage", "could not be read as Parquet"),
        ("allbad.csv", b"country,revenue_before,revenue_after\nUK,x,y\nFR,a,b\n", "holds no numbers"),
        ("gone.csv", b"country,revenue_before,revenue_after\nUK,,1\nFR,2,\n", "every row has a missing"),
    ],
)
def test_bad_files_get_one_clear_error(write_file, name, content, message):
    path = write_file(name, content)
    with pytest.raises(DataError) as caught:
        load_dataset(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{name}: ")  # the message names the file


def test_file_over_size_limit(write_file):
    path = write_file("big.csv", REVENUE_TSV)
    with pytest.raises(DataError, match=r"big.csv: the file is .* over the .* limit"):
        load_dataset(path, max_bytes=50)


def test_upload_over_size_limit_is_not_read_whole():
    stream = io.BytesIO(b"x" * 1000)
    with pytest.raises(DataError, match="over the"):
        load_dataset(stream, name="upload.csv", max_bytes=100)


def test_missing_path():
    with pytest.raises(DataError, match="no such file"):
        load_dataset("/nonexistent/file.csv")


def test_sniffer_prefers_tab_for_tsv():
    assert sniff_delimiter(b"a\tb,c\td\n1\t2,3\t4\n", "x.tsv") == "\t"


def test_dimension_text_is_cleaned_on_its_distinct_values():
    from tools.loading import MISSING_LABEL, as_dimension

    column = pd.Series([" DE", "DE", None, "", "FR ", "FR"], dtype="category")
    cleaned = as_dimension(column)
    assert cleaned.tolist() == ["DE", "DE", MISSING_LABEL, MISSING_LABEL, "FR", "FR"]
    assert sorted(cleaned.cat.categories) == sorted(
        ["DE", MISSING_LABEL, "FR"]
    )  # no unused or duplicate value
    unused = pd.Series(pd.Categorical(["a", "b"], categories=["a", "b", "c"]))
    assert list(as_dimension(unused).cat.categories) == ["a", "b"]
    clean = pd.Series(["x", "y", "x"], dtype="category")
    assert as_dimension(clean) is clean  # nothing to do: no copy of a million rows


def test_many_rows_of_few_segments_are_summed_and_reported(write_file):
    rows = "".join(f"DE,S{i % 3},1,2\n" for i in range(30))
    dataset = load_dataset(write_file("repeats.csv", "country,store,revenue_before,revenue_after\n" + rows))
    assert len(dataset.frame) == 3
    assert dataset.frame["revenue_before"].sum() == 30
    assert any("27 row(s) repeat a segment" in w and "row 5" in w for w in dataset.warnings)


def test_a_line_break_inside_a_quoted_value_is_part_of_the_value(write_file):
    # 7 MB: more than one of pyarrow's 4 MB blocks, so line breaks in values also sit at a block's edge.
    rows = "".join(f'C{i},"Store\n{i % 7}",{i},{i + 1}\n' for i in range(200_000))
    dataset = load_dataset(write_file("breaks.csv", "country,store,revenue_before,revenue_after\n" + rows))
    assert dataset.rows_read == 200_000 and not dataset.warnings
    assert dataset.frame["store"].iloc[8] == "Store\n1"
    assert dataset.frame["revenue_before"].sum() == sum(range(200_000))


# ---- files that lie or explode ----------------------------------------------------------------------------------


def test_infinite_values_are_left_out_and_overflowing_sums_refused(write_file):
    text = "country,revenue_before,revenue_after\nUK,inf,5\nFR,10,-inf\nES,1e400,3\nIT,10,12\nDE,4,4\n"
    dataset = load_dataset(write_file("inf.csv", text))
    assert sorted(dataset.frame["country"].astype(str)) == ["DE", "IT"]
    warning = next(w for w in dataset.warnings if "left out" in w)
    assert (
        "3 row(s) with a missing, non-numeric or infinite value" in warning and "row 2 (country=UK" in warning
    )
    overflow = "country,revenue_before,revenue_after\nUK,1e308,1\nFR,1e308,1\n"
    with pytest.raises(DataError, match="'revenue_before' are too large to add up"):
        load_dataset(write_file("overflow.csv", overflow))


def test_thousand_fold_jump_between_number_styles_is_named(write_file):
    text = 'country,revenue_before,revenue_after\nUK,1.234,"1,234"\nFR,2.5,"2,500"\nDE,3.1,"3,100"\n'
    dataset = load_dataset(write_file("mixed.csv", text))
    assert any("about 1,000 times" in w and "1.234 in one, 1,234 in the other" in w for w in dataset.warnings)
    plain = "country,revenue_before,revenue_after\nUK,1.5,1.7\nFR,2.5,2.4\n"
    assert load_dataset(write_file("plain.csv", plain)).warnings == []


def test_nested_parquet_columns_are_left_out(tmp_path):
    path = tmp_path / "nested.parquet"
    pd.DataFrame(
        {
            "country": ["UK", "FR"],
            "tags": [["a", "b"], ["c"]],
            "meta": [{"k": 1}, {"k": 2}],
            "revenue_before": [1.0, 3.0],
            "revenue_after": [1.0, 2.0],
        }
    ).to_parquet(path)
    dataset = load_dataset(path)
    assert dataset.dimensions == ["country"]
    assert any("'tags', 'meta' hold lists or records" in w for w in dataset.warnings)


def test_a_row_longer_than_a_parse_block_is_read(write_file, monkeypatch):
    import tools.loading as loading

    monkeypatch.setattr(
        loading, "CSV_BLOCK_BYTES", 4096
    )  # the same as a 5 MB row against 4 MB blocks, faster
    long_label = "x" * 20_000
    text = "country,revenue_before,revenue_after\n" + "".join(f"C{i},1,2\n" for i in range(300))
    text += f'"{long_label}",1,2\nUK,3,4\n'
    dataset = load_dataset(write_file("long.csv", text))
    assert len(dataset.frame) == 302 and long_label in set(dataset.frame["country"].astype(str))


def test_a_workbook_that_unpacks_too_far_is_refused_before_reading(tmp_path, monkeypatch):
    import tools.loading as loading

    path = tmp_path / "bomb.xlsx"
    pd.DataFrame({"country": ["UK"] * 2000, "revenue_before": 1.0, "revenue_after": 2.0}).to_excel(
        path, index=False
    )
    monkeypatch.setattr(
        loading, "EXCEL_MAX_UNPACKED_BYTES", 10_000
    )  # a real bomb: 1 MB that unpacks to 1 GiB
    with pytest.raises(DataError, match=r"bomb.xlsx: the workbook unpacks to .* MB, over the 0 MB"):
        load_dataset(path)


def test_ten_thousand_columns_load_quietly(write_file, recwarn):
    columns = ["country"] + [f"m{i}_before" for i in range(2500)] + [f"m{i}_after" for i in range(2500)]
    text = ",".join(columns) + "\n" + "UK," + ",".join(["1"] * 5000) + "\nFR," + ",".join(["2"] * 5000) + "\n"
    dataset = load_dataset(write_file("wide.csv", text))
    assert len(dataset.metrics) == 2500 and dataset.dimensions == ["country"]
    assert not [w for w in recwarn if "fragmented" in str(w.message)]


def test_a_new_file_format_is_one_entry_of_the_registry(write_file, monkeypatch):
    from tools import loading

    def read_json_lines(source):
        frame = pd.read_json(io.BytesIO(source.data()), lines=True)
        return frame, None, []

    json_lines = loading.FileFormat("JSON lines", frozenset({".jsonl"}), (), read_json_lines)
    monkeypatch.setitem(loading.FILE_FORMATS, "json-lines", json_lines)
    text = '{"country": "DE", "revenue_before": 10, "revenue_after": 7}\n{"country": "UK", "revenue_before": 5, "revenue_after": 6}\n'
    dataset = load_dataset(write_file("revenue.jsonl", text))
    assert dataset.metrics == ["revenue"] and dataset.dimensions == ["country"]
    assert dataset.frame["revenue_after"].sum() == 13
    # Formats are recognised in order, by suffix or first bytes; what none claims is delimited text.
    assert loading.FILE_FORMATS["parquet"].matches(b"PAR1....", ".bin")
    with pytest.raises(DataError, match=r"old Excel \(\.xls\) files are not supported"):
        load_dataset(write_file("old.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100))


def test_mean_text_length_of_a_categorical_column_counts_every_row():
    from tools.loading import _mean_text_length

    values = ["a" * 100, "bb", None, "bb", "bb"]
    plain = pd.Series(values, dtype=object)
    categorical = pd.Series(values, dtype="category")  # measured on its distinct values, weighted by rows
    assert _mean_text_length(categorical) == _mean_text_length(plain) == pytest.approx((100 + 2 * 3) / 4)
