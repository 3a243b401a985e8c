"""diffnas.analysis.convergence: each criterion's convergence epoch on constructed runs, censoring, the report flag."""

from __future__ import annotations

import pytest

from diffnas.analysis.convergence import CRITERIA, DEFAULT_CRITERION
from diffnas.analysis.load import load_results
from diffnas.analysis.summary import summarise
from diffnas.cli import main
from tests.analysis.synth_results import ALT, BASE, G_CONV, G_MIX, make_run, write_results


def _runs():
    # a: softmax(α) barely moves (0.98 -> 0.95) while the effective distribution sharpens 0.9 -> 0.2
    a = make_run("a", BASE, 0, entropy=[0.98, 0.97, 0.96, 0.95, 0.95],
                 entropy_eff=[0.9, 0.6, 0.4, 0.25, 0.2],
                 genotypes=[G_MIX, G_CONV, G_CONV, G_CONV, G_CONV])
    # b: nothing settles (effective entropy 0.95 -> 0.7: a 26 % drop), genotype flips every epoch
    b = make_run("b", ALT, 0, entropy=[0.99, 0.98, 0.97, 0.97, 0.96], entropy_eff=[0.95, 0.9, 0.8, 0.75, 0.7],
                 genotypes=[G_MIX, G_CONV, G_MIX, G_CONV, G_MIX])
    # c: the source material's criterion fires (softmax(α) itself falls under 0.3 at epoch 4)
    c = make_run("c", ALT, 1, entropy=[0.9, 0.6, 0.4, 0.2, 0.1], entropy_eff=[0.9, 0.6, 0.4, 0.2, 0.1])
    return [a, b, c]


@pytest.fixture()
def results(tmp_path):
    return load_results([str(write_results(tmp_path / "r", _runs()))])


@pytest.mark.parametrize("criterion, threshold, expected", [
    # 1 - Ĥ_e / Ĥ_1 >= 0.5: a at epoch 3 (1 - 0.4/0.9 = 0.56), b never, c at epoch 3 (1 - 0.4/0.9)
    ("entropy_drop", None, {"a": (3, True), "b": (5, False), "c": (3, True)}),
    ("entropy_drop", 0.7, {"a": (4, True), "b": (5, False), "c": (4, True)}),
    # Ĥ_e < 0.3: a at 4, c at 4
    ("entropy_eff", None, {"a": (4, True), "b": (5, False), "c": (4, True)}),
    # the source material's entropy_norm < 0.3: only c
    ("entropy", None, {"a": (5, False), "b": (5, False), "c": (4, True)}),
    # genotype unchanged for 3 consecutive epochs: a (epochs 2..5 identical -> at 5); c always G_CONV -> 4
    ("genotype", None, {"a": (5, True), "b": (5, False), "c": (4, True)}),
])
def test_criteria_by_hand(results, criterion, threshold, expected):
    s = summarise(results, criterion=criterion, threshold=threshold).set_index("trial_id")
    got = {t: (int(s.loc[t, "convergence_epoch"]), bool(s.loc[t, "converged"])) for t in "abc"}
    assert got == expected
    assert s["convergence_criterion"].iloc[0].startswith(criterion)


def test_default_is_the_effective_entropy_drop():
    assert DEFAULT_CRITERION == "entropy_drop" and set(CRITERIA) == {"entropy_drop", "entropy_eff", "entropy",
                                                                       "genotype"}


def test_older_results_without_effective_entropy_are_censored(tmp_path):
    rows, trial = make_run("old", BASE, 0, entropy=[0.9, 0.2])
    for r in rows:
        del r["entropy_eff"]
    s = summarise(load_results([str(write_results(tmp_path / "o", [(rows, trial)]))]))
    assert not bool(s["converged"].iloc[0]) and s["convergence_epoch"].iloc[0] == 2


def test_report_flag_and_headline(tmp_path, capsys):
    folder = write_results(tmp_path / "r", _runs())
    out = tmp_path / "rep"
    assert main(["report", str(folder), "--out", str(out), "--format", "md", "--plots", "none", "--quiet",
                 "--n-resamples", "200", "--baseline", "sampler=gumbel"]) == 0
    md = (out / "report.md").read_text()
    assert "conv. epoch (KM median)" in md and "settled)" in md
    assert "--convergence entropy_drop" in md
    assert main(["report", str(folder), "--out", str(tmp_path / "x"), "--convergence", "nope"]) == 2
    assert "--convergence" in capsys.readouterr().err
