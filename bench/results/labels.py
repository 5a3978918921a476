"""Names of crafted adversarial sets in records (``<attack>@<ε>``): written by the transfer stage, read by the
leaderboard's claims; and threat models written for readers (``ℓ∞, ε = 0.3``)."""

from __future__ import annotations


def attack_label(attack: str, eps: float) -> str:
    """The name of one crafted set: ``<attack>@<ε>`` (ε with 6 significant digits).

    >>> attack_label("fgsm", 0.1), attack_label("pgd", 8 / 255)
    ('fgsm@0.1', 'pgd@0.0313725')
    """
    return f"{attack}@{eps:.6g}"


def parse_label(label: str) -> tuple[str, float]:
    """Inverse of :func:`attack_label`.

    >>> parse_label("tgsm@0.3")
    ('tgsm', 0.3)
    """
    attack, sep, eps = label.partition("@")
    if not sep or not attack:
        raise ValueError(f"not an attack label (expected '<attack>@<eps>'): {label!r}")
    return attack, float(eps)


_NORM_SYMBOLS = {"linf": "ℓ∞", "l2": "ℓ2", "l1": "ℓ1"}
_NORM_WORDS = {
    "linf": "an attacker may move each pixel by at most ε",
    "l2": "an attacker may add a perturbation of Euclidean (ℓ2) length at most ε",
    "l1": "an attacker may add a perturbation of summed absolute change (ℓ1) at most ε",
}


def threat_model_text(spec: str) -> str:
    """A threat model as a reader writes it: ``"linf:0.3"`` → ``"ℓ∞, ε = 0.3"`` (ε keeps its spelling, e.g. 8/255).

    Unknown norms keep their name; a string without ``:`` is returned unchanged.

    >>> threat_model_text("linf:0.3"), threat_model_text("l2:0.5"), threat_model_text("linf:8/255")
    ('ℓ∞, ε = 0.3', 'ℓ2, ε = 0.5', 'ℓ∞, ε = 8/255')
    """
    norm, sep, eps = spec.partition(":")
    if not sep:
        return spec
    symbol = _NORM_SYMBOLS.get(norm.strip().lower(), norm.strip())
    return f"{symbol}, ε = {eps.strip()}"


def threat_model_sentence(spec: str) -> str:
    """A threat model in words for an entry page: the short form, then what the budget allows (pixels on [0, 1]).

    >>> threat_model_sentence("linf:0.3")
    'ℓ∞, ε = 0.3: an attacker may move each pixel by at most ε = 0.3 (pixel values on [0, 1])'
    >>> threat_model_sentence("lp:2")
    'lp, ε = 2'
    """
    norm, sep, eps = spec.partition(":")
    words = _NORM_WORDS.get(norm.strip().lower())
    if not sep or words is None:
        return threat_model_text(spec)
    return f"{threat_model_text(spec)}: {words.replace('ε', f'ε = {eps.strip()}')} (pixel values on [0, 1])"
