import math

import pandas as pd
import pytest

from tools.numbers import all_whole_numbers, is_mostly_numeric, parse_number_column


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,234.50", 1234.5),
        ("1 234", 1234.0),
        ("1\u00a0234,5", 1234.5),
        ("12%", 12.0),
        ("(5.00)", -5.0),
        ("−7.5", -7.5),
        ("€ 3.20", 3.2),
        ("USD 10", 10.0),
        ("1'234.5", 1234.5),
    ],
)
def test_written_numbers_parse(text, expected):
    parsed = parse_number_column(pd.Series([text, "1"]))
    assert parsed.values.iloc[0] == pytest.approx(expected)
    assert not parsed.invalid.any()


def test_decimal_comma_column_is_read_as_european():
    parsed = parse_number_column(pd.Series(["1.234,50", "900,25", "10"]))
    assert parsed.values.tolist() == [1234.5, 900.25, 10.0]


def test_comma_groups_of_three_are_thousands():
    parsed = parse_number_column(pd.Series(["1,234", "12,345,678"]))
    assert parsed.values.tolist() == [1234.0, 12345678.0]


def test_missing_tokens_are_missing_not_invalid():
    parsed = parse_number_column(pd.Series(["", "n/a", "-", None, "7"]))
    assert parsed.values.isna().tolist() == [True, True, True, True, False]
    assert not parsed.invalid.any()


def test_text_is_invalid():
    parsed = parse_number_column(pd.Series(["12", "twelve"]))
    assert math.isnan(parsed.values.iloc[1])
    assert parsed.invalid.tolist() == [False, True]


def test_percent_flag():
    assert parse_number_column(pd.Series(["12%", "3.5%"])).percent
    assert not parse_number_column(pd.Series(["$12", "3"])).percent


def test_mostly_numeric():
    assert is_mostly_numeric(pd.Series(["1", "2", "3"]))
    assert not is_mostly_numeric(pd.Series(["UK", "FR", "3"]))
    assert not is_mostly_numeric(pd.Series([True, False]))


def test_mostly_numeric_weighs_a_categorical_by_its_cells():
    # Two distinct values, but 95 of 100 cells are numbers: the cells decide, not the distinct values.
    column = pd.Series(["7"] * 95 + ["n/a x"] * 5, dtype="category")
    assert is_mostly_numeric(column)
    assert not is_mostly_numeric(pd.Series(["7"] * 5 + ["DE"] * 95, dtype="category"))
    assert not is_mostly_numeric(pd.Series([None, None], dtype="category"))


def test_whole_numbers():
    assert all_whole_numbers([0, 3, 10.0])
    assert not all_whole_numbers([0.5, 3])
    assert not all_whole_numbers([-1, 3])


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (518_105_163.07, False, "518.1M"),
        (10_400_000, True, "+10.4M"),
        (1_731_985.21, False, "1.73M"),
        (-132_919.66, True, "-132,919.66"),
        (2_500_000_000, False, "2.50B"),
        (0.0, True, "0.00"),
    ],
)
def test_amounts_read_like_a_manager_reads_them(value, signed, text):
    from tools.numbers import amount

    assert amount(value, signed) == text
