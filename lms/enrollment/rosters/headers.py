"""The header names a roster may use (DESIGN §4): ours, and those people and other systems write.

One table, data only: each field with the names that mean it, in English, French and Dutch,
and the column names of the exports HR brings (Moodle's upload users file, Canvas SIS
users.csv, Discourse bulk invites, Go Vocal's invite sheet, Google Workspace's user upload
template, Open edX). `field_of` matches a header cell against it ignoring case, accents,
spaces, punctuation and a bracketed note ("Email Address [Required]"). A name that is not
here means nothing: it is never guessed at (so "Password Hash Function" or "Recovery Email"
stay ignored columns, named in a warning).
"""
from __future__ import annotations

import re
import unicodedata

# The fields a column can hold. The first eleven are the template's, in its order (the order
# of a roster without a header); then those a header or a mapping may name.
TEMPLATE_FIELDS = ("last_name", "first_name", "email", "labels", "send_email", "password", "language",
                   "additional_info", "groups", "role", "deactivate_on")
FIELDS = TEMPLATE_FIELDS + ("external_id", "full_name", "admin", "must_change_password")
LIST_FIELDS = ("labels", "groups")  # several columns may fill one of these: their values add up

FIELD_LABELS = {
    "last_name": "Last name", "first_name": "First name", "email": "Email", "labels": "Labels",
    "send_email": "Send the email (1/0)", "password": "Password", "language": "Language",
    "additional_info": "Additional information", "groups": "Groups", "role": "Role",
    "deactivate_on": "Deactivate on (date)", "external_id": "External id (HR system)",
    "full_name": "Full name (split into first and last)", "admin": "Admin (TRUE makes the role admin)",
    "must_change_password": "Must change the password at the next sign-in (1/0)",
}

ALIASES = {
    "last_name": ("last name", "lastname", "surname", "family name", "familyname", "sn",
                  "nom", "nom de famille", "achternaam", "familienaam"),
    "first_name": ("first name", "firstname", "given name", "forename", "prénom", "prenom", "voornaam"),
    "email": ("email", "e-mail", "mail", "email address", "e-mail address", "work email", "primary email",
              "adresse e-mail", "adresse mail", "adresse électronique", "courriel", "e-mailadres"),
    "labels": ("labels", "label", "tags", "tag", "étiquettes", "étiquette", "etiketten", "etiket"),
    "send_email": ("send email", "send invitation", "notify", "envoyer l'e-mail", "e-mail versturen"),
    "password": ("password", "mot de passe", "wachtwoord"),
    "language": ("language", "locale", "lang", "preferred language", "langue", "taal"),
    "additional_info": ("additional info", "additional information", "info", "notes", "note", "description",
                        "informations complémentaires", "remarques", "opmerkingen"),
    "groups": ("groups", "group", "cohort", "cohorts", "groupe", "groupes", "groep", "groepen", "team", "teams"),
    "role": ("role", "roles", "rôle", "rol"),
    "deactivate_on": ("deactivate on", "deactivation date", "deactivate", "expiry date", "expires on",
                      "end date", "date de désactivation", "désactivation", "deactiveren op",
                      "deactiveringsdatum"),
    "external_id": ("external id", "user_id", "user id", "idnumber", "id number", "employee id",
                    "employee number", "unique id", "sis id", "sis user id", "staff id", "matricule",
                    "numéro d'employé", "personeelsnummer"),
    "full_name": ("full name", "fullname", "name", "display name", "nom complet", "naam", "volledige naam"),
    "admin": ("admin", "is admin", "administrator"),
    # Moodle's upload users file says forcepasswordchange; Google Workspace's template
    # "Change Password at Next Sign-In".
    "must_change_password": ("must change password", "force password change", "forcepasswordchange",
                             "change password at next sign-in", "change password at next login",
                             "changer le mot de passe", "wachtwoord wijzigen"),
}
# Numbered columns (Moodle's cohort1, group1, group2...): a family of names for one field.
NUMBERED = {"groups": ("group", "groupe", "groep", "cohort", "cohorte")}

IGNORE = "ignore"  # what a mapping says of a column it does not import
PASSWORD_LIKE = ("password", "passwd", "motdepasse", "wachtwoord")  # samples of such columns are masked


def header_key(name) -> str:
    """'Email Address [Required]', 'e-mail address' and 'EMAILADDRESS' are the same name."""
    text = re.sub(r"[\[(][^\])]*[\])]", " ", str(name or ""))  # a bracketed note
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    return re.sub(r"[\W_]+", "", text.casefold())


def _table():
    fields = {}
    for field, names in ALIASES.items():
        for name in (field, *names):
            key = header_key(name)
            if fields.setdefault(key, field) != field:  # one name, two fields: the table is wrong
                raise ValueError(f"{name!r} names both {fields[key]} and {field}")
    return fields


_FIELD_OF_KEY = _table()
_NUMBERED = re.compile("(" + "|".join(
    f"(?P<{field}>{'|'.join(header_key(stem) for stem in stems)})" for field, stems in NUMBERED.items()) + r")\d+")


def field_of(name) -> str | None:
    """The field a header cell names, or None when it names none."""
    key = header_key(name)
    if not key:
        return None
    if key in _FIELD_OF_KEY:
        return _FIELD_OF_KEY[key]
    numbered = _NUMBERED.fullmatch(key)
    if numbered:
        return next(field for field, stem in numbered.groupdict().items() if stem)
    return None


def looks_like_password(name) -> bool:
    """A column that may hold passwords (its values are masked); not the must-change flag's."""
    key = header_key(name)
    return any(word in key for word in PASSWORD_LIKE) and field_of(name) != "must_change_password"


def aliases_markdown() -> str:
    """The table above as the README lists it (tests/enrollment/test_roster_headers.py keeps
    the README in step: regenerate it with `python -m lms.enrollment.rosters.headers`)."""
    lines = ["| field | header names |", "|---|---|"]
    for name, names in ALIASES.items():
        numbered = "".join(f", `{stem}1`…`{stem}N`" for stem in NUMBERED.get(name, ()))
        lines.append(f"| `{name}` | " + ", ".join(f"`{alias}`" for alias in names) + numbered + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(aliases_markdown())
