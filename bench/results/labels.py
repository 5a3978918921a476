"""Names of crafted adversarial sets in records (``<attack>@<ε>``): written by the transfer stage, read by the
leaderboard's claims."""

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
