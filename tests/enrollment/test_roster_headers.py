"""The table of header names (lms.enrollment.rosters.headers): one name, one field; matching
that ignores what people vary; nothing guessed; and the README lists the table as it is."""
import re
from pathlib import Path

import pytest

from lms.enrollment.rosters.headers import ALIASES, FIELDS, aliases_markdown, field_of, header_key

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_the_header_names_as_the_table_has_them():
    text = README.read_text(encoding="utf-8")
    listed = re.search(r"<!-- header-aliases:start -->\n(.*?)\n<!-- header-aliases:end -->", text, re.S)

    assert listed is not None, "README.md lost its header-aliases markers"
    assert listed.group(1) == aliases_markdown(), \
        "run `.venv/bin/python -m lms.enrollment.rosters.headers` and paste its table into README.md"


def test_every_name_of_the_table_means_its_field_however_it_is_written():
    for field, names in ALIASES.items():
        assert field in FIELDS
        for name in (field, *names):
            for written in (name, name.upper(), f" {name.title()} [Required]", name.replace(" ", "_"),
                            name.replace(" ", "-")):
                assert field_of(written) == field, (written, field)


@pytest.mark.parametrize("name, field", [("Email Address [Required]", "email"), ("PRÉNOM", "first_name"),
                                         ("Adresse e-mail", "email"), ("cohort12", "groups"),
                                         ("Group 2", "groups"), ("Employee ID", "external_id"),
                                         ("E-mailadres", "email"), ("Nom de famille", "last_name")])
def test_names_other_systems_write(name, field):
    assert field_of(name) == field


@pytest.mark.parametrize("name", ["Password Hash Function [UPLOAD ONLY]", "Recovery Email", "New Primary Email",
                                  "Manager Email", "ssha_password", "username", "login_id", "id", "status",
                                  "course1", "Org Unit Path [Required]", "", "   "])
def test_names_that_mean_no_field_are_not_guessed(name):
    assert field_of(name) is None


def test_header_key_drops_accents_case_spacing_punctuation_and_notes():
    assert header_key(" Adresse  É-mail (pro) ") == "adresseemail"
