"""The site's figures and entry-page facts: plot text never leaves its SVG box, chance lines, colour bars,
the compare page's shared images shown once, an entry's cost and its threat model in words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib import colormaps

from bench.results.places import TrackInfo
from bench.results.records import Provenance
from bench.results.scores import score_infos
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record
from leaderboard.view import build_site, line_plot
from leaderboard.view.cost import entry_cost
from leaderboard.view.galleries import colour_scale
from leaderboard.view.plots import PAD, text_boxes
from leaderboard.view.svgtext import text_width, wrap

INFOS = score_infos(SYNTHETIC_SPECS)
LONG = "FGSM accuracy vs nominal ℓ∞ budget, transferred, mean over 10 other entries (not Woods' ARA)"


@pytest.mark.parametrize(
    ("title", "xlabel", "ylabel"),
    [
        ("t", "", ""),
        (LONG, "nominal ℓ∞ budget ε", "accuracy"),
        ("White-box PGD-50 accuracy vs ℓ∞ ε (no random start; track ε = 0.3)", "ℓ∞ budget ε", "accuracy"),
        ("A" * 120, "x" * 90, "fraction of images with minimal radius above ε, of all evaluated images"),
    ],
)
@pytest.mark.parametrize("width", [260, 380])
def test_plot_text_stays_inside_the_figure(title: str, xlabel: str, ylabel: str, width: int) -> None:
    curve = {"title": title, "xlabel": xlabel, "ylabel": ylabel, "x": [0.0, 0.5, 1000.25], "y": [1.0, 0.5, 0.0]}
    p = line_plot("k", curve, width=width, chance=0.1, classes=10)
    assert p is not None
    boxes = text_boxes(p)
    assert len(boxes) >= len(p.xticks) + len(p.yticks) + 2
    for text, (x0, y0, x1, y1) in boxes:
        assert x0 >= 0 and y0 >= 0 and x1 <= p.width and y1 <= p.height, text
    titles = [t for t in p.texts if t.title]
    assert " ".join(t.text for t in titles).replace(" ", "") == title.replace(" ", "")  # every word kept
    assert all(text_width(t.text, t.size, True) <= width - 2 * PAD for t in titles)
    assert p.top > max(t.y for t in titles)  # the box starts below the title


def test_wrap_breaks_at_spaces_and_keeps_every_word() -> None:
    lines = wrap(LONG, 200, 12)
    assert len(lines) > 1 and " ".join(lines) == LONG
    assert all(text_width(line, 12) <= 200 for line in lines)
    assert wrap("", 100, 10) == ()


def test_stage_chance_draws_a_labelled_line_at_one_over_k() -> None:
    rec = synthetic_record("a", 0, n=20)
    page = build_site([rec], INFOS).tracks[0].pages[0]
    ara = dict(page.plots)["ara"][0]
    (ref,) = ara.refs
    y0, y1 = float(ara.yticks[0].label), float(ara.yticks[-1].label)
    expected = ara.bottom - (0.1 - y0) / (y1 - y0) * (ara.bottom - ara.top)
    assert ref.y == pytest.approx(expected, abs=0.01)
    assert ref.label.text == "chance 1/K = 0.1 (K = 10 classes)"
    assert not dict(page.plots)["autoattack"][0].refs  # no chance in that stage's details: no line


@pytest.mark.parametrize("chance", [0.0, 1.0, 2.0, "0.1", None])
def test_a_chance_outside_zero_one_draws_nothing(chance: object) -> None:
    rec = synthetic_record("a", 0, n=20)
    details = dict(rec.details)
    details["ara"] = {**details["ara"], "chance": chance}
    page = build_site([rec.model_copy(update={"details": details})], INFOS).tracks[0].pages[0]
    assert not dict(page.plots)["ara"][0].refs


def test_chance_above_the_data_widens_the_axis() -> None:
    p = line_plot("k", {"x": [0, 1], "y": [0.02, 0.01]}, chance=0.5)
    assert p is not None and float(p.yticks[-1].label) >= 0.5
    assert p.top <= p.refs[0].y <= p.bottom


def test_colour_scale_samples_the_colormap_from_low_to_high() -> None:
    cs = colour_scale({"colormap": "coolwarm", "low": "−1", "high": "+1", "meaning": "signed"})
    assert cs is not None and len(cs.stops) == 11
    cmap = colormaps["coolwarm"]
    for offset, colour in (cs.stops[0], cs.stops[5], cs.stops[-1]):
        r, g, b, _ = cmap(float(offset) / 100)
        assert colour == f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    assert colour_scale({"colormap": "not a colormap"}) is None and colour_scale(None) is None


def test_entry_page_draws_the_colour_bar_and_reports_an_unknown_colormap(tmp_path: Path) -> None:
    rec = synthetic_record("a", 0, n=20)
    render_records([rec], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (tmp_path / "toy" / "a.html").read_text(encoding="utf-8")
    bar = page.split('<div class="colour-bar">')[1].split("</div>")[0]
    assert "relevance, per image" in bar and '<span class="low">0</span>' in bar and "max" in bar
    assert bar.count("<stop ") == 11
    details = dict(rec.details)
    details["explain"] = {"gallery": [{**details["explain"]["gallery"][0], "scale": {"colormap": "nope"}}]}
    bad = build_site([rec.model_copy(update={"details": details})], INFOS).tracks[0].pages[0]
    assert bad.galleries[0].scale is None and any("colormap" in p for p in bad.problems)


def test_compare_page_shows_shared_images_once_and_each_entrys_own_rows(tmp_path: Path) -> None:
    names = ["a", "b", "c"]
    records = [synthetic_record(n, i, names=names, n=30) for i, n in enumerate(names)]
    shared = records[0].details["explain"]["gallery"][0]
    for i, r in enumerate(records):  # the same inputs for all three (labelled with each one's prediction)
        own = synthetic_record("x", 10 + i, n=30).details["explain"]["gallery"][0]
        inputs = [{**img, "label": f"#{j} pred {i}"} for j, img in enumerate(shared["images"])]
        gallery = [{**shared, "caption": "inputs", "images": inputs}, {**own, "caption": "maps"}]
        r.details["explain"] = {"gallery": gallery}
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (tmp_path / "toy" / "_compare.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 4 + 3 * 4 and len(set(srcs)) == len(srcs)  # every image once
    assert "every entry (3)" in page and page.index("inputs") < page.index("maps")
    head = page.split("every entry (3)")[1].split("</tr>")[0]
    assert re.findall(r"<figcaption>([^<]*)</figcaption>", head) == ["#0", "#1", "#2", "#3"]  # no one's prediction


def test_entry_cost_lists_every_stage_with_its_share_and_the_total() -> None:
    p = Provenance(
        seed=0,
        track_version="1",
        track_sha256="0",
        subset_sha256="0",
        device="cuda (NVIDIA H200, 16 threads)",
        wall_time_s={"train": 300.0, "autoattack": 60.0, "clean": 0.5},
        images={"autoattack": 200},
    )
    cost = entry_cost(p)
    assert [s.stage for s in cost.stages] == ["train", "autoattack", "clean"]  # longest first
    assert cost.total == "6.0 min" and cost.threads == "16"
    assert [s.share for s in cost.stages] == ["83%", "17%", "0%"]
    assert cost.stages[1].images == "200" and cost.stages[0].images == "—"
    empty = entry_cost(p.model_copy(update={"wall_time_s": {}, "device": ""}))
    assert empty.stages == () and empty.device == "not recorded" and empty.threads == "not recorded"


def test_entry_page_states_the_threat_model_and_its_cost(tmp_path: Path) -> None:
    rec = synthetic_record("a", 0, n=20)
    tracks = {"toy": TrackInfo("Toy", "linf:0.3")}
    render_records([rec], tmp_path, specs=SYNTHETIC_SPECS, tracks=tracks)
    page = (tmp_path / "toy" / "a.html").read_text(encoding="utf-8")
    assert "ℓ∞, ε = 0.3: an attacker may move each pixel by at most ε = 0.3" in page
    cost = page.split('<table class="cost">')[1].split("</table>")[0]
    assert "<td>train</td>" in cost and "1.6 s" in cost and "threads: 2" in page
    render_records([rec], tmp_path / "unknown", specs=SYNTHETIC_SPECS, tracks={})
    assert "not known" in (tmp_path / "unknown" / "toy" / "a.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(("signed", "colormap"), [(False, "inferno"), (True, "coolwarm")])
def test_map_rows_carry_the_colour_scale_their_pngs_are_drawn_in(signed: bool, colormap: str) -> None:
    import base64
    import io

    import numpy as np
    import torch
    from PIL import Image

    from bench.explainers.images import map_row

    heat = torch.tensor([[[-1.0, 0.0], [0.5, 1.0]]])
    row = map_row("maps", heat, ["#0"], signed=signed)
    scale = colour_scale(row["scale"])
    assert row["scale"]["colormap"] == colormap and scale is not None
    png = Image.open(io.BytesIO(base64.b64decode(row["images"][0]["png"]))).convert("RGB")
    top = np.asarray(png)[1, 1]  # the map's largest value is drawn in the bar's high end
    assert f"#{top[0]:02x}{top[1]:02x}{top[2]:02x}" == scale.stops[-1][1]
