"""Networks people share to, named as people write them (the feed, the activity page, points history)."""

from __future__ import annotations

from flask_babel import gettext as _

NETWORK_LABELS = {
    "linkedin": "LinkedIn",
    "x": "X",
    "facebook": "Facebook",
    "whatsapp": "WhatsApp",
}


def network_label(network: str) -> str:
    """A network's name as people write it."""
    if network in NETWORK_LABELS:
        return NETWORK_LABELS[network]
    if network == "email":
        return _("e-mail")
    if network == "copy":
        return _("a copied link")
    if network == "native":
        return _("your phone's share menu")
    return network
