"""The claims page: each of the five papers' qualitative claims, tested on one track's records.

For every paper (Ross & Doshi-Velez 2018, the activation-sensitivity papers, Boopathy et al. 2020, Woods et al.
2019, Heo et al. 2019; each links its arXiv page) a function registered in
:data:`PAPERS` turns a track's full-run records into checks. A check states the claim, quotes the paper's own
numbers where they are known, lists what robex measured (with intervals where the record has them) and gives
a :class:`Verdict`. Checks are :class:`Gate.ASSERT` where a faithful small-scale
reproduction should see the effect, :class:`Gate.REPORT` where the paper's direction is unverified at this
scale and is only reported, :class:`Gate.SANITY` where the check is an identity of the definitions (a check of
the computation, shown apart and not counted). Two models are compared on the same images with an interval
(:mod:`leaderboard.claim_stats`); a check whose evidence is absent is *not measured*, with the reason. Nothing
here tunes anything: a claim that does not hold is shown as such.

Everything is a pure function of the records (no compute), so the page is regenerated with the site.

One module per paper (:mod:`~leaderboard.claims.ross`, :mod:`~leaderboard.claims.activation_sensitivity`,
:mod:`~leaderboard.claims.boopathy`, :mod:`~leaderboard.claims.woods`, :mod:`~leaderboard.claims.heo`), each
registering its function in :data:`PAPERS` when :mod:`~leaderboard.claims.build` imports it.
"""

from leaderboard.claims.build import build_claims, track_claims
from leaderboard.claims.common import PAPERS
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    TrackClaims,
    Verdict,
    disjoint_above,
)

__all__ = [
    "PAPERS",
    "Check",
    "Evidence",
    "Gate",
    "Measurement",
    "PaperClaims",
    "TrackClaims",
    "Verdict",
    "build_claims",
    "disjoint_above",
    "track_claims",
]
