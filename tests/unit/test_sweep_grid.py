"""The sweep file (``backtest.py --sweep``): expansion into parameter sets in a deterministic order, the seeded
random sample, and validation with errors that name the place."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmm.config.config import load_config
from lmm.daemon.sweep import columns, point_config, write_csv
from lmm.daemon.sweep_grid import SweepError, SweepPoint, apply_point, expand


def test_a_grid_expands_to_every_combination_with_the_first_key_slowest():
    sweep = expand({"grid": {"vol_obi.c1_ticks": [0, 20], "vol_obi.min_half_spread_bps": [1.5, 3, 5]},
                    "fixed": {"vol_obi.warmup_seconds": 20}})
    assert sweep.swept_keys == ("vol_obi.c1_ticks", "vol_obi.min_half_spread_bps")
    assert [p.index for p in sweep.points] == list(range(6))
    assert [tuple(v for _, v in p.values) for p in sweep.points] == [
        (0, 1.5, 20), (0, 3, 20), (0, 5, 20), (20, 1.5, 20), (20, 3, 20), (20, 5, 20)]
    assert sweep.points[4].values == (("vol_obi.c1_ticks", 20), ("vol_obi.min_half_spread_bps", 3),
                                      ("vol_obi.warmup_seconds", 20))


def test_a_random_sample_repeats_for_its_seed_and_stays_in_range():
    spec = {"random": {"seed": 7, "samples": 50, "keys": {
        "vol_obi.c1_ticks": {"uniform": [0, 40]}, "vol_obi.vol_to_half_spread": {"log_uniform": [0.5, 8]},
        "trading.levels_per_side": {"int": [1, 3]}, "alpha.source": {"choice": ["none", "binance"]}}}}
    first, again = expand(spec), expand(json.loads(json.dumps(spec)))
    assert first == again
    other = expand({**spec, "random": {**spec["random"], "seed": 8}})
    assert [p.values for p in other.points] != [p.values for p in first.points]
    values = [dict(p.values) for p in first.points]
    assert len(values) == 50
    assert all(0 <= v["vol_obi.c1_ticks"] <= 40 for v in values)
    assert all(0.5 <= v["vol_obi.vol_to_half_spread"] <= 8 for v in values)
    assert {v["trading.levels_per_side"] for v in values} == {1, 2, 3}
    assert {v["alpha.source"] for v in values} == {"none", "binance"}
    assert all(float(f"{v['vol_obi.c1_ticks']:.6g}") == v["vol_obi.c1_ticks"] for v in values)


@pytest.mark.parametrize(("spec", "message"), [
    ({}, "exactly one of"),
    ({"grid": {"vol_obi.c1_ticks": [1]}, "random": {}}, "exactly one of"),
    ({"grid": {"vol_obi.c1_ticks": [1]}, "extra": 1}, r"unknown field\(s\) \['extra'\]"),
    ({"grid": {"c1_ticks": [1]}}, "write it as section.key"),
    ({"grid": {"vol_obj.c1_ticks": [1]}}, "did you mean 'vol_obi'"),
    ({"grid": {"vol_obi.c1_tick": [1]}}, "did you mean 'vol_obi.c1_ticks'"),
    ({"grid": {"vol_obi.c1_ticks": []}}, r"grid.vol_obi.c1_ticks: expected a non-empty list"),
    ({"grid": {"vol_obi.c1_ticks": 5}}, "expected a non-empty list"),
    ({"grid": {"vol_obi.c1_ticks": [1, 1]}}, "listed twice"),
    ({"grid": {"vol_obi.c1_ticks": [[1]]}}, r"grid.vol_obi.c1_ticks\[0\]: expected a number"),
    ({"grid": {}}, "no key to sweep"),
    ({"grid": {"vol_obi.c1_ticks": [1]}, "fixed": {"vol_obi.c1_ticks": 2}}, "also swept"),
    ({"random": {"samples": 3, "keys": {"vol_obi.c1_ticks": {"uniform": [0, 1]}}}}, "random.seed"),
    ({"random": {"seed": 1, "samples": 0, "keys": {"vol_obi.c1_ticks": {"uniform": [0, 1]}}}}, "random.samples"),
    ({"random": {"seed": 1, "samples": 2, "keys": {"vol_obi.c1_ticks": {"normal": [0, 1]}}}}, "expected one of"),
    ({"random": {"seed": 1, "samples": 2, "keys": {"vol_obi.c1_ticks": {"uniform": [3, 1]}}}}, "must be below"),
    ({"random": {"seed": 1, "samples": 2, "keys": {"vol_obi.c1_ticks": {"log_uniform": [0, 1]}}}}, "above 0"),
    ({"random": {"seed": 1, "samples": 2, "keys": {"trading.levels_per_side": {"int": [1, 2.5]}}}}, "two integers"),
    ({"grid": {"vol_obi.c1_ticks": list(range(1000)), "vol_obi.skew": list(range(1000))}}, "more than"),
])
def test_a_bad_sweep_file_is_refused_with_an_error_naming_the_place(spec: dict, message: str):
    with pytest.raises(SweepError, match=message):
        expand(spec)


def test_a_point_is_applied_to_the_configuration_and_its_values_are_validated_by_the_config_loader():
    base = {"vol_obi": {"c1_ticks": 20.0, "skew": 1.0}, "trading": {"leverage": 2}}
    point = SweepPoint(0, (("vol_obi.c1_ticks", 0), ("trading.leverage", 3)))
    assert apply_point(base, point.values) == {"vol_obi": {"c1_ticks": 0, "skew": 1.0}, "trading": {"leverage": 3}}
    assert base["vol_obi"]["c1_ticks"] == 20.0  # the base is not changed
    from lmm.config.config import effective_config_json

    config_json = effective_config_json(load_config(None, env={}))
    config = point_config(config_json, point)
    assert config.vol_obi.c1_ticks == 0.0 and config.trading.leverage == 3
    with pytest.raises(SweepError, match=r"sweep point 4 \(vol_obi.window_steps=2.5\): .*expected int"):
        point_config(config_json, SweepPoint(4, (("vol_obi.window_steps", 2.5),)))
    with pytest.raises(SweepError, match=r"vol_obi.min_half_spread_bps = 5000.*accepted"):
        point_config(config_json, SweepPoint(1, (("vol_obi.min_half_spread_bps", 5000),)))
    with pytest.raises(SweepError, match=r"must be at least 2 x trading\.levels_per_side"):  # the keys' relations
        point_config(config_json, SweepPoint(2, (("trading.levels_per_side", 3),)))


def test_the_csv_has_one_row_a_point_with_the_swept_keys_then_the_metrics(tmp_path: Path):
    from lmm.daemon.sweep import METRICS

    rows = [{"point": i, "vol_obi.c1_ticks": float(i), **{m: None if m == "sharpe_annualised" else i for m in METRICS}}
            for i in range(2)]
    write_csv(rows, ("vol_obi.c1_ticks",), tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0].split(",") == columns(("vol_obi.c1_ticks",)) == ["point", "vol_obi.c1_ticks", *METRICS]
    assert lines[2].split(",")[:5] == ["1", "1.0", "1", "1", "1"]
    assert lines[2].split(",")[2 + METRICS.index("sharpe_annualised")] == ""


def test_the_command_line_refuses_a_bad_sweep_file_before_running_anything(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]):
    from backtest import main

    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"grid": {"vol_obi.c1_tick": [0, 20]}}))
    status = main(["--tape", str(tmp_path / "no-tape"), "--sweep", str(sweep), "--log-dir", str(tmp_path / "logs"),
                   "--config", str(_config_file(tmp_path))])
    assert status == 2
    assert "did you mean 'vol_obi.c1_ticks'" in capsys.readouterr().err
    sweep.write_text("{not json")
    assert main(["--tape", str(tmp_path), "--sweep", str(sweep), "--log-dir", str(tmp_path / "logs"),
                 "--config", str(_config_file(tmp_path))]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["--tape", str(tmp_path), "--workers", "2"])
    assert stopped.value.code == 2
    assert "go with --sweep" in capsys.readouterr().err


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text("{}")
    return path


def test_the_backtests_own_assumptions_can_be_swept_and_never_enter_the_configuration():
    from lmm.daemon.backtest import BacktestOptions
    from lmm.daemon.sweep import point_options

    sweep = expand({"grid": {"backtest.latency_ms": [10, 250], "backtest.queue_model": ["risk_averse", "proportional"]},
                    "fixed": {"vol_obi.c1_ticks": 0, "backtest.tier": "standard"}})
    base = BacktestOptions(Path("tape"))
    options = [point_options(base, p) for p in sweep.points]
    assert [(o.entry_latency_s, o.queue_model, o.tier) for o in options] == [
        (0.01, "risk_averse", "standard"), (0.01, "proportional", "standard"),
        (0.25, "risk_averse", "standard"), (0.25, "proportional", "standard")]
    assert options[0].tape == base.tape and base.entry_latency_s == 0.05  # the base options are unchanged
    assert apply_point({"vol_obi": {}}, sweep.points[0].values) == {"vol_obi": {"c1_ticks": 0}}


@pytest.mark.parametrize(("spec", "message"), [
    ({"grid": {"backtest.latency": [1]}}, "unknown backtest assumption 'backtest.latency'"),
    ({"grid": {"backtest.queue_model": ["fifo"]}}, "backtest.queue_model = 'fifo' is not accepted"),
    ({"grid": {"backtest.latency_ms": [-5]}}, "backtest.latency_ms = -5 is not accepted"),
    ({"grid": {"backtest.tier": ["gold"]}}, "backtest.tier = 'gold' is not accepted"),
])
def test_a_bad_backtest_assumption_is_refused_naming_the_point(spec: dict, message: str):
    from lmm.daemon.backtest import BacktestOptions
    from lmm.daemon.sweep import check_points

    with pytest.raises(SweepError, match=message):
        check_points(json.dumps({}), expand(spec), BacktestOptions(Path("tape")))
