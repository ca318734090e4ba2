"""The unit import reads what Excel writes: its quoting and a Swedish locale's semicolons."""

from __future__ import annotations

import pytest

from workflow.imports import read_units_csv

HEADER = (
    "name{d}organisation{d}staff_count{d}manager_has_budget_and_staff_responsibility{d}"
    "has_business_plan{d}share_stockholm_residents{d}budget_in_balance{d}privately_run"
)
ORGANISATIONS = {"Socialförvaltningen": 1}


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_quote_doubled_inside_a_quoted_field_is_one_quote(delimiter: str) -> None:
    """Excel doubles a quote inside a quoted field and quotes a name holding the delimiter;
    both come back as the name the office typed."""
    d = delimiter
    text = (
        HEADER.format(d=d)
        + "\n"
        + d.join(
            ['"Förskolan ""Solen"""', "Socialförvaltningen", "6", "ja", "ja", "0.9", "ja", "nej"]
        )
        + "\n"
        + d.join(
            [f'"Hem{d} vård och omsorg"', "Socialförvaltningen", "6", "ja", "ja", "1", "ja", "nej"]
        )
        + "\n"
    )
    specs, reasons = read_units_csv(text, organisation_ids_by_name=ORGANISATIONS)
    assert reasons == []
    assert [spec.name for _, spec in specs] == ['Förskolan "Solen"', f"Hem{d} vård och omsorg"]
