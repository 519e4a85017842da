import pytest

from tools.loading import load_dataset
from tools.roles import suggest_ratio


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (("users", "orders"), (("orders", "users"), True)),
        (("sessions", "conversions"), (("conversions", "sessions"), True)),
        (("impressions", "clicks"), (("clicks", "impressions"), True)),
        (("users", "converted_users"), (("converted_users", "users"), True)),
        (("alpha", "beta"), (("alpha", "beta"), False)),  # no names: smaller over larger, not ticked
    ],
)
def test_suggested_ratio_is_the_outcome_over_its_base(write_file, columns, expected):
    first, second = columns
    text = f"channel,{first}_before,{first}_after,{second}_before,{second}_after\n"
    # the first metric always holds the larger totals, except in the nameless case where alpha is smaller
    big, small = (1000, 50) if first != "alpha" else (50, 1000)
    text += f"web,{big},{big},{small},{small}\napp,{big},{big},{small},{small}\n"
    assert suggest_ratio(load_dataset(write_file("r.csv", text))) == expected


def test_no_ratio_for_one_metric_or_negative_amounts(write_file):
    one = load_dataset(write_file("one.csv", "country,revenue_before,revenue_after\nUK,1,2\n"))
    assert suggest_ratio(one) == (None, False)
    text = "country,profit_before,profit_after,orders_before,orders_after\nUK,-5,3,1,2\n"
    assert suggest_ratio(load_dataset(write_file("neg.csv", text))) == (None, False)
