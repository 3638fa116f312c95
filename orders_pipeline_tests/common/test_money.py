"""money: the vectorised decimal -> minor units conversion agrees with the exact scalar rule."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS, amount_minor_expr, to_minor_units

_MAX_INTEGER_DIGITS = 14
CURRENCIES = ["JPY", "USD", "KWD", "CLF"]  # exponents 0, 2, 3, 4

decimal_text = st.builds(
    lambda zeros, whole, fraction, blanks: blanks[0] + "0" * zeros + whole + fraction + blanks[1],
    st.integers(0, 3),
    st.text("0123456789", min_size=1, max_size=17),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=6).map(lambda f: "." + f)),
    st.tuples(st.sampled_from(["", " ", "\t"]), st.sampled_from(["", " "])),
)


def _expected(text: str, currency: str) -> int | None:
    """The scalar rule, plus ingestion's documented bound: at most 14 significant integer digits."""
    whole = text.strip().split(".")[0].lstrip("0")
    if len(whole) > _MAX_INTEGER_DIGITS:
        return None
    try:
        return to_minor_units(text, currency)
    except ValueError:
        return None


@given(amounts=st.lists(st.tuples(decimal_text, st.sampled_from(CURRENCIES)), min_size=1, max_size=40))
def test_vectorised_conversion_matches_the_exact_rule(amounts: list[tuple[str, str]]) -> None:
    frame = pl.DataFrame(
        {"amount": [a for a, _ in amounts], "exponent": [CURRENCY_EXPONENTS[c] for _, c in amounts]},
        schema={"amount": pl.String, "exponent": pl.Int8},
    )
    got = frame.select(amount_minor_expr(pl.col("amount"), pl.col("exponent")).alias("minor"))["minor"].to_list()
    assert got == [_expected(a, c) for a, c in amounts]


def test_examples_from_the_spec_and_edges() -> None:
    texts = [
        "12.500",
        "12.5",
        "1.234",
        "0",
        "0.00",
        "007",
        "0.5",
        ".5",
        "1.",
        "-1",
        "1e3",
        " 7.10 ",
        "",
        "12345678901234.5",
    ]
    frame = pl.DataFrame(
        {"amount": texts, "exponent": [2] * len(texts)}, schema={"amount": pl.String, "exponent": pl.Int8}
    )
    got = frame.select(amount_minor_expr(pl.col("amount"), pl.col("exponent")).alias("m"))["m"].to_list()
    assert got == [1250, 1250, None, 0, 0, 700, 50, None, None, None, None, 710, None, 1234567890123450]
