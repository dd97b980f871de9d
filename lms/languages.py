"""Language tags (BCP 47) and their names, as people read them."""
from functools import lru_cache

from babel import Locale, UnknownLocaleError


@lru_cache(maxsize=128)
def language_name(tag: str) -> str:
    """'fr' -> 'Français', 'nl-BE' -> 'Nederlands (België)': each language in its own words."""
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return tag
    name = locale.get_display_name(locale) or tag
    return name[:1].upper() + name[1:]
