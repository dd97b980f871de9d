"""Temporary passwords, generated for people who are given one by email."""
import secrets

# No look-alikes (0/O, 1/l/I): people type these from an email, sometimes from a phone.
ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GROUPS, GROUP_LENGTH = 4, 4  # 16 characters of 57: about 93 bits


def generate_temporary_password() -> str:
    """A random password in groups of four ("Hk7p-2xWq-..."), from `secrets`."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))


# The roster value (and CLI/API value) that asks for one to be generated.
GENERATE = "*generate*"
