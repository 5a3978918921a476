"""The claims page: each of the five papers' qualitative claims, tested on one track's records.

For every paper (``shared/docs/papers.md`` §1.5, §2.3, §3.6, §4.4, §5.5) a function registered in
:data:`PAPERS` turns a track's full-run records into checks. A check states the claim, quotes the paper's own
numbers where they are known, lists what robex measured (with intervals where the record has them) and gives
a :class:`Verdict`. Checks are :class:`Gate.ASSERT` where papers.md says a faithful small-scale
reproduction should see the effect, :class:`Gate.REPORT` where the paper's direction is unverified at this
scale and is only reported, :class:`Gate.SANITY` where the check is an identity of the definitions (a check of
the computation, shown apart and not counted). Two models are compared on the same images with an interval
(:mod:`leaderboard.claim_stats`); a check whose evidence is absent is *not measured*, with the reason. Nothing
here tunes anything: a claim that does not hold is shown as such.

Everything is a pure function of the records (no compute), so the page is regenerated with the site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.results import Registry, Unit
from bench.results.labels import parse_label
from bench.results.records import Record
from leaderboard.claim_stats import newcombe_difference, paired_mean_difference
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    TrackClaims,
    Verdict,
    all_known,
    common_pairs,
    disjoint_above,
    per_image,
    verdict,
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


PAPERS: Registry[Callable[[Evidence], PaperClaims]] = Registry("paper claims")


# ------------------------------------------------------------------------------------- 1. Ross & Doshi-Velez
def _clean_within(ev: Evidence, entry: str, points: float, statement: str, paper: str) -> Check:
    base, other = ev.score("standard", "clean_accuracy"), ev.score(entry, "clean_accuracy")
    ok = None if base is None or other is None else other.value >= base.value - points / 100
    return Check(
        statement,
        Gate.ASSERT,
        verdict(ok),
        (ev.measure("standard", "clean_accuracy", "clean"), ev.measure(entry, "clean_accuracy", "clean")),
        paper,
        f"clean({entry}) ≥ clean(standard) − {points:g} points (point estimates; intervals shown)",
    )


ROSS_TARGETS = ("input_gradient", "standard")  # the regularised model and a non-regularised one
CLEAN_MATCH = 0.02  # "matching clean accuracy": within 2 points


def ross_same_examples(ev: Evidence) -> Check:
    """Ross & Doshi-Velez's transfer claim on the *same* transferred examples for both targets.

    For every source other than the two targets (so neither is attacked white-box), the FGSM examples at
    one grid ε are shown to ``input_gradient`` and to ``standard`` (non-regularised, of matching clean
    accuracy); each source gives the accuracy difference with Newcombe's interval. ε is the grid point where
    ``standard``'s mean accuracy over those sources is nearest 0.4 (mid-curve, where the paper's gap shows).
    """
    reg, plain = ROSS_TARGETS
    statement = (
        "On the same FGSM examples transferred from another model, the gradient-regularized model is more "
        "accurate than a non-regularized model of matching clean accuracy."
    )
    paper = (
        "From normal, ε = 0.1/0.2/0.3: doubleback .984/.922/.797 (the normal model itself, white-box: .727/.277/.113)."
    )
    rule = (
        f"at the FGSM grid ε where {plain}'s mean accuracy over the other sources is nearest 0.4: {reg} − {plain} on "
        "each source's examples, Newcombe 95% interval; holds when the interval lies above 0 for more than half "
        f"the sources and below 0 for none; clean accuracies within {100 * CLEAN_MATCH:g} points"
    )
    clean = [ev.score(n, "clean_accuracy") for n in ROSS_TARGETS]
    rows = [ev.measure(n, "clean_accuracy", "clean") for n in ROSS_TARGETS]

    def missing(note: str) -> Check:
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, note)

    if clean[0] is None or clean[1] is None:
        return missing(f"clean accuracy of {reg} or {plain} not recorded")
    if abs(clean[0].value - clean[1].value) > CLEAN_MATCH + 1e-12:
        return missing(
            f"no non-regularized target of matching clean accuracy: {plain} and {reg} differ by "
            f"{100 * abs(clean[0].value - clean[1].value):.1f} points"
        )
    sizes = {t: ev.section(t, "transfer").get("n") for t in ROSS_TARGETS}
    grids = {t: ev.section(t, "transfer").get("grid", {}) for t in ROSS_TARGETS}
    if not all(isinstance(v, int) and v > 0 for v in sizes.values()) or not all(grids.values()):
        return missing("the records hold no transfer grid")
    n = {t: int(v) for t, v in sizes.items() if isinstance(v, int)}
    labels = sorted(
        (parse_label(lb)[1], lb)
        for lb in set(grids[reg]) & set(grids[plain])
        if parse_label(lb)[0] == "fgsm" and parse_label(lb)[1] > 0
    )
    by_source = {lb: {t: grids[t][lb].get("by_source", {}) for t in ROSS_TARGETS} for _, lb in labels}
    sources = {lb: sorted((set(b[reg]) & set(b[plain])) - set(ROSS_TARGETS)) for lb, b in by_source.items()}
    usable = [(e, lb) for e, lb in labels if sources[lb]]
    if not usable:
        return missing("no source other than the two targets in the transfer grid")

    def plain_mean(lb: str) -> float:
        return sum(float(by_source[lb][plain][s]) for s in sources[lb]) / len(sources[lb])

    eps, label = min(usable, key=lambda el: (abs(plain_mean(el[1]) - 0.4), el[0]))
    up = down = 0
    for src in sources[label]:
        acc = [float(by_source[label][t][src]) for t in ROSS_TARGETS]
        k = [round(a * n[t]) for a, t in zip(acc, ROSS_TARGETS, strict=True)]
        d = newcombe_difference(k[0], n[reg], k[1], n[plain])
        up, down = up + d.above_zero, down + d.below_zero
        pct = [Unit.FRACTION.text(a) for a in acc]
        rows.append(
            Measurement(
                f"FGSM ε = {eps:g} from {src}: {reg} {pct[0]} vs {plain} {pct[1]}, difference",
                d.value,
                ci_low=d.ci_low,
                ci_high=d.ci_high,
            )
        )
    return Check(statement, Gate.ASSERT, verdict(up > len(sources[label]) / 2 and down == 0), tuple(rows), paper, rule)


@PAPERS.register("ross2018")
def ross(ev: Evidence) -> PaperClaims:
    """Ross & Doshi-Velez (AAAI 2018), papers.md §1.4–§1.5."""
    checks = [
        _clean_within(
            ev,
            "input_gradient",
            2,
            "Input-gradient regularization (double backprop) costs at most 1–2 points of clean accuracy.",
            "MNIST clean: normal 99.30, doubleback 99.42, insensitive 99.44 (%).",
        )
    ]
    checks.append(ross_same_examples(ev))
    grid = [e for e in ev.curve_x("standard", "transfer", "fgsm_white_box") if e > 0]
    # Beyond the training ε, transferred from normal: regularized vs adversarially trained (FGSM-AT, as Ross).
    eps = ev.eps
    beyond = [e for e in grid if eps is not None and e > eps + 1e-9][:2]
    rows, wins = [], []
    for e in beyond:
        vals = {
            n: ev.curve_at(n, "transfer", "fgsm_surrogate", e)
            for n in ("input_gradient", "input_gradient_insensitive", "fgsm_at", "pgd_at")
        }
        rows += [Measurement(f"{n}: FGSM from standard at ε = {e:g}", v) for n, v in vals.items()]
        if vals["input_gradient"] is not None and vals["fgsm_at"] is not None:
            wins.append(vals["input_gradient"] > vals["fgsm_at"])
    checks.append(
        Check(
            "Beyond the training ε, on examples transferred from the normal model, gradient-regularized models beat "
            "adversarial training and degrade more gracefully.",
            Gate.REPORT,
            verdict(all(wins) if wins and len(wins) == len(beyond) else None),
            tuple(rows),
            "From normal, ε = 0.4/0.5: doubleback .621/.395, insensitive .488/.305, adv-trained (FGSM, ε = 0.3) "
            ".457/.176.",
            "input_gradient > fgsm_at at the first two grid ε above the track's ε",
        )
    )
    wb = {n: ev.curve_at(n, "transfer", "fgsm_white_box", eps) if eps else None for n in ("input_gradient", "fgsm_at")}
    checks.append(
        Check(
            "They are not robust white-box: at the training ε, white-box FGSM breaks the gradient-regularized model "
            "more than the adversarially trained one (the paper does not claim white-box robustness).",
            Gate.REPORT,
            verdict(None if not all_known(wb.values()) else (wb["input_gradient"] or 0) < (wb["fgsm_at"] or 0)),
            (
                Measurement(f"input_gradient: FGSM white-box at ε = {eps}", wb["input_gradient"]),
                Measurement(f"fgsm_at: FGSM white-box at ε = {eps}", wb["fgsm_at"]),
                ev.measure("input_gradient", "autoattack_accuracy", "AutoAttack"),
            ),
            "White-box FGSM at ε = 0.3: doubleback .277, adv-trained .965.",
            "FGSM white-box accuracy: input_gradient < fgsm_at",
        )
    )
    d_wb = ev.curve_at("distillation", "transfer", "fgsm_white_box", eps) if eps else None
    d_tr = ev.curve_at("distillation", "transfer", "fgsm_surrogate", eps) if eps else None
    checks.append(
        Check(
            "Defensive distillation masks gradients: white-box FGSM barely moves it, examples transferred from the "
            "normal model do.",
            Gate.ASSERT,
            verdict(None if d_wb is None or d_tr is None else d_wb > d_tr + 0.1),
            (
                Measurement(f"distillation: FGSM white-box at ε = {eps}", d_wb),
                Measurement(f"distillation: FGSM from standard at ε = {eps}", d_tr),
            ),
            "Distilled: white-box FGSM .992 at ε = 0.1/0.2/0.3; from normal .945/.578/.211.",
            "white-box accuracy exceeds transferred accuracy by more than 10 points",
        )
    )
    return PaperClaims(
        "ross2018",
        "Improving the Adversarial Robustness and Interpretability of Deep Neural Networks by Regularizing Their "
        "Input Gradients",
        "Ross & Doshi-Velez, AAAI 2018",
        "https://arxiv.org/abs/1711.09404",
        "§1.5",
        "Penalising input gradients makes models robust to transferred adversarial examples (more than adversarial "
        "training at large ε) at little clean cost, without white-box robustness.",
        tuple(checks),
    )


# --------------------------------------------------------------------------------- 2. activation sensitivity
EXPLANATION_SCORES: tuple[tuple[str, bool], ...] = (
    ("max_sensitivity", False),
    ("deletion_auc", False),
    ("insertion_auc", True),
    ("faithfulness_correlation", True),
    ("explanation_topk_kendall_tau", True),
)


def _better(ev: Evidence, entry: str, other: str) -> tuple[list[Measurement], list[bool | None]]:
    rows: list[Measurement] = []
    better: list[bool | None] = []
    for name, higher in EXPLANATION_SCORES:
        a, b = ev.score(entry, name), ev.score(other, name)
        rows += [ev.measure(entry, name, unit="score"), ev.measure(other, name, unit="score")]
        better.append(disjoint_above(a, b) if higher else disjoint_above(b, a))
    return rows, better


@PAPERS.register("activation_sensitivity")
def activation_sensitivity(ev: Evidence) -> PaperClaims:
    """Regularizing neural activation sensitivity (papers.md §2.1–§2.3; objective reconstructed)."""
    checks = [
        _clean_within(
            ev,
            "activation_sensitivity",
            2,
            "Regularizing activation sensitivity costs at most 2 points of clean accuracy.",
            "No public numbers we could verify.",
        )
    ]
    rows, better = _better(ev, "activation_sensitivity", "standard")
    known = [b for b in better if b is not None]
    checks.append(
        Check(
            "Explanations of the regularized model are better than the standard model's on at least one fidelity or "
            "explanation-robustness metric.",
            Gate.ASSERT,
            verdict(any(known) if known else None),
            tuple(rows),
            "Abstract: the regularized models are better than standard ones in interpretability.",
            "at least one of max-sensitivity↓, deletion↓, insertion↑, faithfulness↑, CAM τ↑ better with "
            "non-overlapping 95% intervals",
        )
    )
    rows, better = _better(ev, "activation_sensitivity", "pgd_at")
    known = [b for b in better if b is not None]
    checks.append(
        Check(
            "Explanations of the regularized model are better than an adversarially trained model's.",
            Gate.REPORT,
            verdict(sum(known) > len(known) / 2 if known else None),
            tuple(rows),
            'Abstract: "models trained using our proposed method are even better than adversarially robust models '
            'in terms of interpretability" (unverified: method section unread).',
            "better than pgd_at on a majority of the five metrics, non-overlapping 95% intervals",
        )
    )
    return PaperClaims(
        "activation_sensitivity",
        "Regularizing neural activation sensitivity (objective reconstructed from the abstracts)",
        "Shabtai group, Ben-Gurion University",
        "",
        "§2.3",
        "Lowering the sensitivity of individual neurons to small input perturbations improves interpretability, "
        "beyond what adversarial training gives.",
        tuple(checks),
    )


# ------------------------------------------------------------------------------------------- 3. Boopathy
BOOTSTRAP_SEED = 0  # every bootstrap interval of the claims page


def boopathy_tau(ev: Evidence) -> Check:
    """Int's CAM Kendall τ vs standard's on the images where both kept their prediction (paired bootstrap)."""
    int_ = "interpretability_aware"
    statement = "CAMs of Int are more stable under the top-k interpretation attack (higher Kendall τ) than normal."
    rule = (
        "mean over the images both models kept their prediction on (common prefix of the evaluation subset) of "
        f"τ(Int) − τ(standard), BCa bootstrap 95% interval (seed {BOOTSTRAP_SEED}) above 0"
    )
    rows = [
        ev.measure(int_, "explanation_topk_kendall_tau", "CAM τ (own image set)", unit="score"),
        ev.measure("standard", "explanation_topk_kendall_tau", "CAM τ (own image set)", unit="score"),
    ]
    paper = "Direction from the abstract; values unverified."
    taus = [per_image(ev, n, "explain", "boopathy", "topk", "tau") for n in (int_, "standard")]
    if taus[0] is None or taus[1] is None:
        note = (
            "the records hold no per-image τ (details.explain.boopathy.topk.tau); averages over different image "
            "sets are not compared"
        )
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, note)
    a, b = common_pairs(taus[0], taus[1])
    if not a:
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, "no image kept by both models")
    d = paired_mean_difference(a, b, seed=BOOTSTRAP_SEED)
    rows.append(Measurement(f"τ(Int) − τ(standard) on {d.n} common images", d.value, "score", d.ci_low, d.ci_high))
    return Check(statement, Gate.ASSERT, verdict(d.above_zero), tuple(rows), paper, rule)


@PAPERS.register("boopathy2020")
def boopathy(ev: Evidence) -> PaperClaims:
    """Boopathy et al. (ICML 2020), papers.md §3.5–§3.6."""
    int_ = "interpretability_aware"
    checks = [
        _clean_within(
            ev,
            int_,
            3,
            "Interpretability-aware training (Int) keeps clean accuracy within ~2–3 points of normal training.",
            "Headline tables unverified (papers.md §3.5).",
        )
    ]
    a, b = ev.score(int_, "autoattack_accuracy"), ev.score("standard", "autoattack_accuracy")
    checks.append(
        Check(
            "Under attack at the training ε, Int is far more accurate than normal training.",
            Gate.ASSERT,
            verdict(None if a is None or b is None else bool(disjoint_above(a, b)) and a.value - b.value >= 0.1),
            (
                ev.measure(int_, "autoattack_accuracy", "AutoAttack"),
                ev.measure("standard", "autoattack_accuracy", "AutoAttack"),
                ev.measure(int_, "pgd_accuracy", "PGD"),
                ev.measure("standard", "pgd_accuracy", "PGD"),
            ),
            "Direction from the abstract; table values unverified.",
            "AutoAttack accuracy at least 10 points higher, non-overlapping 95% intervals",
        )
    )
    eps = ev.eps
    beyond = [
        float(r["eps"])
        for r in ev.section(int_, "pgd_sweep").get("table", [])
        if eps is not None and float(r["eps"]) > eps + 1e-9
    ]
    rows: list[Measurement] = []
    wins: list[bool] = []
    for e in beyond:
        vals = {
            n: ev.row(n, "pgd_sweep", eps=e)
            for n in (int_, "interpretability_aware_int2", "pgd_at", "trades", "standard")
        }
        for n, row in vals.items():
            rows.append(
                Measurement(
                    f"{n}: PGD at ε = {e:g}",
                    None if row is None else float(row["accuracy"]),
                    ci_low=None if row is None else row.get("ci_low"),
                    ci_high=None if row is None else row.get("ci_high"),
                )
            )
        ours, at = vals[int_], vals["pgd_at"]
        if ours is not None and at is not None:
            wins.append(float(ours["accuracy"]) >= float(at["accuracy"]))
    checks.append(
        Check(
            "Beyond the training ε, Int is at least as accurate as PGD adversarial training.",
            Gate.REPORT,
            verdict(all(wins) if wins and len(wins) == len(beyond) else None),
            tuple(rows),
            "Claimed direction at ε = 0.35, 0.4 on MNIST (tables unverified).",
            "PGD (no random start, step 0.01 × ε/0.3) accuracy of Int ≥ pgd_at at every grid ε above the track's ε",
        )
    )
    checks.append(boopathy_tau(ev))
    return PaperClaims(
        "boopathy2020",
        "Proper Network Interpretability Helps Adversarial Robustness in Classification",
        "Boopathy, Liu, Zhang, Liu, Chen, Chang, Daniel, ICML 2020",
        "https://arxiv.org/abs/2006.14748",
        "§3.6",
        "Training for robust CAM interpretations (no adversarial cross-entropy) yields adversarial robustness, "
        "especially beyond the training ε, and more stable explanations.",
        tuple(checks),
    )


# ---------------------------------------------------------------------------------------------- 4. Woods
ARA_DEFENDED = ("pgd_at", "trades", "input_gradient", "lipschitz")
MNIST_TRACKS = ("mnist", "mnist5k")  # where papers.md §4.4's estimate for a standard MNIST CNN applies


@PAPERS.register("woods2019")
def woods(ev: Evidence) -> PaperClaims:
    """Woods, Chen, Teuscher (Nature MI 2019), papers.md §4.4."""
    base = ev.score("standard", "ara_attack")
    rows = [ev.measure("standard", "ara_attack", "attack ARA", unit="rmse")]
    ok: list[bool] = []
    for n in ARA_DEFENDED:
        s = ev.score(n, "ara_attack")
        rows.append(ev.measure(n, "ara_attack", "attack ARA", unit="rmse"))
        if s is not None and base is not None:
            ok.append(s.value > base.value)
    checks = [
        Check(
            "Adversarial training and robustness regularizers (including Woods' Lipschitz-style robust additions) "
            "raise ARA above the standard model's.",
            Gate.ASSERT,
            verdict(all(ok) if len(ok) == len(ARA_DEFENDED) else None),
            tuple(rows),
            "CIFAR-10 ResNet-44 attack ARA: standard 0.0013, adv. training 0.0100, robust additions 0.0142, both "
            "0.0188 (8–15× the standard).",
            "attack ARA of each of " + ", ".join(ARA_DEFENDED) + " > standard's",
        )
    ]
    ident_rows: list[Measurement] = []
    holds: list[bool] = []
    for name in sorted(ev.records):
        row = ev.row(name, "ara", criterion="attack")
        if row is None:
            continue
        ident_rows.append(Measurement(f"{name}: attack ARA / mean radius", row["ara_exact"], "rmse"))
        ident_rows.append(Measurement(f"{name}: mean radius", row["mean_radius"], "rmse"))
        holds.append(float(row["ara_exact"]) <= float(row["mean_radius"]) + 1e-12)
    checks.append(
        Check(
            "ARA never exceeds the mean minimal radius (an identity of the definition: a check of the computation, "
            "not of the paper's claim).",
            Gate.SANITY,
            verdict(all(holds) if holds else None),
            tuple(ident_rows),
            "Follows from ARA = ∫ max(0, A(ε) − 1/K) dε (papers.md §4.1).",
            "ARA ≤ mean radius for every entry",
        )
    )
    s = ev.score("standard", "ara_attack")
    checks.append(
        Check(
            "A standard MNIST CNN has attack ARA ≈ 0.03–0.05 (minimal ℓ2 perturbations ≈ 1–1.5).",
            Gate.REPORT,
            Verdict.NOT_APPLICABLE
            if ev.track not in MNIST_TRACKS
            else verdict(None if s is None else 0.03 <= s.value <= 0.05),
            (ev.measure("standard", "ara_attack", "attack ARA", unit="rmse"),),
            "An estimate in papers.md §4.4, not a published number (MNIST tracks only).",
            "0.03 ≤ attack ARA(standard) ≤ 0.05, on the MNIST tracks only",
        )
    )
    return PaperClaims(
        "woods2019",
        "Adversarial explanations for understanding image classification decisions and improved neural network "
        "robustness",
        "Woods, Chen, Teuscher, Nature Machine Intelligence 2019",
        "https://arxiv.org/abs/1906.02896",
        "§4.4",
        "Robustness measured by ARA (the area under accuracy vs minimal RMSE radius) rises several-fold with "
        "adversarial training and Lipschitz-style robust additions.",
        tuple(checks),
    )


# ------------------------------------------------------------------------------------------------ 5. Heo
def heo_deletion(ev: Evidence, row: Mapping[str, Any] | None) -> Check:
    """Grad-CAM's deletion AUC after the fooling vs the λ = 0 control's, per image, with a bootstrap interval."""
    statement = "Fidelity metrics expose the fooled explainer: Grad-CAM's deletion AUC gets worse (higher)."
    rule = (
        "mean over the fidelity images of deletion AUC(fooled) − deletion AUC(λ = 0 control), BCa bootstrap 95% "
        f"interval (seed {BOOTSTRAP_SEED}) above 0"
    )
    paper = "papers.md §5.5: deletion/insertion of the fooled Grad-CAM should get worse while accuracy stays."

    def value(key: str) -> float | None:
        return None if row is None or row.get(key) is None else float(row[key])

    rows = [
        Measurement("standard: Grad-CAM deletion AUC, original model", value("deletion_auc_before"), "score"),
        Measurement("standard: Grad-CAM deletion AUC, λ = 0 control", value("deletion_auc_control"), "score"),
        Measurement("standard: Grad-CAM deletion AUC, fooled", value("deletion_auc_after"), "score"),
    ]
    images = row.get("deletion_auc_images") if row is not None else None
    after = images.get("after") if isinstance(images, Mapping) else None
    control = images.get("control") if isinstance(images, Mapping) else None
    if not isinstance(after, list) or not isinstance(control, list) or not after or len(after) != len(control):
        note = (
            "the record holds no per-image deletion AUC of the fooled model and the λ = 0 control "
            "(details.manipulate.table[].deletion_auc_images)"
        )
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, note)
    d = paired_mean_difference([float(v) for v in after], [float(v) for v in control], seed=BOOTSTRAP_SEED)
    rows.append(Measurement(f"fooled − control on {d.n} images", d.value, "score", d.ci_low, d.ci_high))
    return Check(statement, Gate.ASSERT, verdict(d.above_zero), tuple(rows), paper, rule)


@PAPERS.register("heo2019")
def heo(ev: Evidence) -> PaperClaims:
    """Heo, Joo, Moon (NeurIPS 2019), papers.md §5.5, on the standard model's Grad-CAM location run."""
    row = ev.row("standard", "manipulate", run="gradcam:location")

    def field(key: str) -> float | None:
        return None if row is None or row.get(key) is None else float(row[key])

    drop, fsr, fsr0, ctrl = field("accuracy_drop_vs_control"), field("fsr"), field("fsr_original"), field("fsr_control")
    # CAM is Grad-CAM's own map on a GAP network: only the other explainers test transfer.
    skip = {"rho_gradcam", "rho_cam"}
    rhos = {k[4:]: float(v) for k, v in (row or {}).items() if k.startswith("rho_") and k not in skip}
    checks = [
        Check(
            "Fine-tuning with the fooling loss keeps accuracy (cost ≤ 2 points against the λ = 0 control).",
            Gate.ASSERT,
            verdict(None if drop is None else drop <= 0.02),
            (
                Measurement(
                    "standard: accuracy of the λ = 0 control",
                    ev.section("standard", "manipulate").get("accuracy_control"),
                ),
                Measurement("standard: accuracy after Grad-CAM location fooling", field("accuracy_after")),
                Measurement("standard: accuracy cost (control − after)", drop),
            ),
            "Passive fooling, VGG19 on ImageNet: top-1 .764 → .716 (location).",
            "accuracy of the λ = 0 control (fine-tuned identically, no fooling term) − accuracy after ≤ 2 points",
        ),
        Check(
            "The fooling success rate of Grad-CAM location fooling rises from ≈ 0 to ≥ 0.5.",
            Gate.ASSERT,
            verdict(None if fsr is None or fsr0 is None else fsr >= 0.5 and fsr0 <= 0.1),
            (
                Measurement("standard: FSR before (original model)", fsr0),
                Measurement("standard: FSR after", fsr),
                Measurement("standard: FSR of the λ = 0 control", ctrl),
            ),
            "The paper's FSR values are not quoted here (its text was not checked); the success interval "
            "(location score in [0, 0.2]) is robex's protocol constant, not the paper's.",
            "FSR after ≥ 0.5 and FSR of the original model ≤ 0.1",
        ),
        Check(
            "The fooling, not the fine-tuning, moves the explanations (the λ = 0 control is not fooled).",
            Gate.ASSERT,
            verdict(None if fsr is None or ctrl is None else fsr > ctrl + 0.3),
            (Measurement("standard: FSR after", fsr), Measurement("standard: FSR of the λ = 0 control", ctrl)),
            "",
            "FSR exceeds the control's by more than 30 points",
        ),
        Check(
            "The fooling transfers to other explainers (their maps' rank correlation with the original drops).",
            Gate.REPORT,
            verdict(None if not rhos else min(rhos.values()) < 0.5),
            tuple(
                Measurement(f"standard: Spearman ρ of {k} maps, after vs before", v, "score") for k, v in rhos.items()
            ),
            "Paper: fooling transfers to other interpreters.",
            "at least one explainer other than Grad-CAM and CAM (the same map on a GAP network) has ρ < 0.5",
        ),
        heo_deletion(ev, row),
    ]
    return PaperClaims(
        "heo2019",
        "Fooling Neural Network Interpretations via Adversarial Model Manipulation",
        "Heo, Joo, Moon, NeurIPS 2019",
        "https://arxiv.org/abs/1902.02041",
        "§5.5",
        "A model can be fine-tuned so that its explanations say something else while its accuracy barely moves.",
        tuple(checks),
    )


# ------------------------------------------------------------------------------------------------ building
def track_claims(track: str, title: str, records: Sequence[Record]) -> TrackClaims:
    """Every registered paper's checks on one track's records, in papers.md order."""
    ev = Evidence(track, records)
    papers = sorted((PAPERS.get(name)(ev) for name in PAPERS.names()), key=lambda p: p.section)
    return TrackClaims(track, title, tuple(papers))


def build_claims(records: Iterable[Record], titles: Mapping[str, str] | None = None) -> tuple[TrackClaims, ...]:
    """Claims of every track with full-run records, tracks sorted by name."""
    by_track: dict[str, list[Record]] = {}
    for r in records:
        if not r.quick:
            by_track.setdefault(r.track, []).append(r)
    titles = titles or {}
    return tuple(track_claims(t, titles.get(t, t), rs) for t, rs in sorted(by_track.items()))
