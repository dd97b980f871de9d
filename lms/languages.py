"""Language tags (BCP 47) and their names, as people read them."""
import re
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


def language_tag(text, languages):
    """A supported language as given ('fr', 'FR'), or a regional tag of one ('nl-BE', 'fr_BE'),
    kept as written in BCP 47 form (the pages and emails use its base language's texts)."""
    match = next((tag for tag in languages if tag.lower() == text.lower()), None)
    if match is not None:
        return match
    parts = re.fullmatch(r"([A-Za-z]{2,3})[-_]([A-Za-z]{2}|\d{3}|[A-Za-z]{4}(?:[-_][A-Za-z]{2})?)", text)
    if parts:
        base = next((tag for tag in languages if tag.lower() == parts.group(1).lower()), None)
        if base is not None:
            region = parts.group(2).replace("_", "-")
            return f"{base}-{region.upper() if len(region) == 2 else region.title()}"
    raise ValueError(f"Unknown language {text!r}; supported: {', '.join(languages)} (and their regional "
                     "forms, such as nl-BE).")
