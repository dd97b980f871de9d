"""Languages: what a French or Dutch speaker reads, before and after signing in."""
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.conftest import login
from tests.pages import flashes, text, visible

CATALOGS = sorted(Path(__file__).resolve().parents[2].glob("lms/translations/*/LC_MESSAGES/messages.po"))


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.parts[-3])
def test_every_message_is_translated(catalog):
    with catalog.open("rb") as handle:
        messages = read_po(handle)
    untranslated = [message.id for message in messages if message.id and (
        message.fuzzy or not all(message.string if isinstance(message.string, tuple) else [message.string]))]
    assert untranslated == []


def test_there_are_french_and_dutch_catalogs():
    assert {path.parts[-3] for path in CATALOGS} >= {"fr", "nl"}


@pytest.mark.parametrize("language, words", [
    ("fr", ["Se connecter", "Mot de passe", "Rester connecté(e) sur cet appareil"]),
    ("nl", ["Aanmelden", "Wachtwoord", "Aangemeld blijven op dit toestel"]),
])
def test_the_sign_in_page_follows_the_browser_language(client, language, words):
    page = visible(text(client.get("/login", headers={"Accept-Language": f"{language},en;q=0.5"})))
    for word in words:
        assert word in page


def test_a_wrong_password_is_said_in_the_browser_language(client, make_user):
    make_user("marie@example.com")
    response = client.post("/login", data={"email": "marie@example.com", "password": "nope"},
                           headers={"Accept-Language": "fr"})
    assert "E-mail ou mot de passe incorrect." in visible(text(response))


def test_a_signed_in_learner_reads_every_page_in_their_language(app, make_user):
    user = make_user("marie@example.com", first_name="Marie", language="fr")
    client = login(app.test_client(), user)

    home = text(client.get("/"))
    inbox = visible(text(client.get("/inbox")))
    account = visible(text(client.get("/account")))

    assert 'lang="fr"' in home
    assert "Bonjour, Marie" in visible(home) and "Mes programmes" in visible(home)
    assert "Bienvenue, Marie" in " ".join(flashes(home))
    for word in ("Accueil", "Boîte de réception", "Mon compte", "Se déconnecter"):
        assert word in visible(home)
    assert "Invitations aux sessions" in inbox and "Rien de nouveau." in inbox
    assert "Changer mon mot de passe" in account and "Mot de passe actuel" in account


def test_a_dutch_learner_is_refused_an_admin_page_in_dutch(app, make_user):
    client = login(app.test_client(), make_user("pieter@example.com", language="nl"))
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert "Je account heeft geen toegang tot deze pagina." in visible(text(response))
