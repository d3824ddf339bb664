"""Which Alertmanager alerts retrain which champion: firing drift and accuracy alerts about the
champion serving now, one retrain per horizon, none while one runs; the rest say why not."""

from __future__ import annotations

from stockpred.monitor.alerts import decide_retrains

CHAMPIONS = {5: "7", 1: "3"}


def _alert(
    name: str, *, kind: str, horizon: str = "5", version: str = "7", status: str = "firing"
) -> tuple[str, dict[str, str], dict[str, str]]:
    labels = {"alertname": name, "kind": kind, "horizon": horizon, "model_version": version}
    return status, labels, {"summary": f"{name} on h{horizon}"}


def test_firing_drift_and_accuracy_alerts_of_the_champion_ask_for_one_retrain_each_horizon() -> (
    None
):
    decision = decide_retrains(
        [
            _alert("FeatureDrift", kind="drift"),
            _alert("AccuracyBelowBaseline", kind="accuracy"),
            _alert("PredictionDrift", kind="drift", horizon="1", version="3"),
        ],
        champions=CHAMPIONS,
    )
    assert set(decision.retrain) == {1, 5}
    assert "FeatureDrift: FeatureDrift on h5" in decision.retrain[5]
    assert "AccuracyBelowBaseline" in decision.retrain[5]
    assert decision.ignored == []


def test_other_alerts_start_nothing_and_say_why() -> None:
    decision = decide_retrains(
        [
            _alert("FeatureDrift", kind="drift", status="resolved"),
            _alert("DataStale", kind="staleness"),
            _alert("FeatureDrift", kind="drift", version="6"),
            _alert("FeatureDrift", kind="drift", horizon="20"),
            _alert("FeatureDrift", kind="drift", horizon="1", version="3"),
        ],
        champions=CHAMPIONS,
        busy={1},
    )
    assert decision.retrain == {}
    reasons = "\n".join(decision.ignored)
    assert "resolved, not firing" in reasons
    assert "kind 'staleness' does not retrain" in reasons
    assert "about version 6, but version 7 serves horizon 5 now" in reasons
    assert "no champion serves horizon '20'" in reasons
    assert "already under way" in reasons
    assert len(decision.ignored) == 5
