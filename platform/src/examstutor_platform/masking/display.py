"""Masked display forms: enough for a person to recognise their own data, too little to identify.

``mask_email("student@examstutor.ng") == "s*****@e***.ng"``: the first character
of the local part and five stars (whatever its length), ``@``, the first
character of the first domain label and three stars, then the last label.
Odd input degrades rather than fails: no ``@`` masks the whole text as a local
part, a one-label domain shows no suffix, empty parts become their stars.
"""

from __future__ import annotations

__all__ = ["mask_email"]

_LOCAL_STARS = "*****"
_DOMAIN_STARS = "***"


def mask_email(value: str | None) -> str:
    """The display mask of an email address; ``""`` for ``None`` or blank text."""
    if value is None:
        return ""
    text = value.strip()
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at:
        return text[0] + _LOCAL_STARS
    masked_local = local[:1] + _LOCAL_STARS
    labels = [label for label in domain.split(".") if label]
    if not labels:
        return f"{masked_local}@{_DOMAIN_STARS}"
    masked_domain = labels[0][0] + _DOMAIN_STARS
    if len(labels) > 1:
        masked_domain += "." + labels[-1]
    return f"{masked_local}@{masked_domain}"
