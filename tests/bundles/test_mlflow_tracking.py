"""``--tracking mlflow`` (MONAI's bundle tracking) on a tiny training: the run read back from an SQLite store holds
every loss term, the validation metrics, the settings, and config/metrics/plots as artifacts; nothing stray is left
at the top of the run folder. Skipped without mlflow (``pip install -e ".[mlflow]"``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from monai.bundle import ConfigWorkflow, run

from monai_pipelines.bundle.tracking import finish_tracking, track_evaluation
from tests.bundles.runner import configs
from tests.bundles.test_mmgan_missing_modality import _overrides, _slices_dataset

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy", reason="MLflow's SQLite store (MONAI refuses the file store) needs SQLAlchemy")


def test_training_run_with_losses_metrics_params_and_artifacts(tmp_path: Path):
    out = tmp_path / "run" / "fold_0"
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run("training", config_file=configs("mmgan_missing_modality", "train.json")[0], logging_file=False,
        tracking="mlflow", tracking_uri=uri, experiment_name="tiny",
        **_overrides(_slices_dataset(tmp_path / "data"), out, epochs=2, features=4, run_name="fold0"), log_interval=2)

    client = mlflow.MlflowClient(uri)
    (record,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert record.info.run_name == "fold0" and record.info.status == "FINISHED"
    assert {"g_loss", "g_adv", "g_rec", "d_loss", "d_real", "d_fake", "val_psnr", "val_ssim_100"} <= set(
        record.data.metrics)
    assert len(client.get_metric_history(record.info.run_id, "val_psnr")) == 2
    losses = [m.step for m in client.get_metric_history(record.info.run_id, "g_loss")]
    assert losses and all(step % 2 == 0 for step in losses), losses  # --log_interval 2
    assert record.data.params["epochs"] == "2" and record.data.params["impute"] == '"zeros"'
    artifacts = {a.path for a in client.list_artifacts(record.info.run_id)}
    assert {"config.json", "contract.json", "history.json", "training_curves.png"} <= artifacts
    assert any(a.startswith("executed_config_") for a in artifacts)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config", "logs", "metrics", "plots"]

    # evaluation: a run of its own with the test metrics and the report (RunContext.evaluate/finish stand-in)
    workflow = ConfigWorkflow(config_file=configs("mmgan_missing_modality", "train.json", "evaluate.json"),
                              workflow_type="eval", run_id="evaluating", tracking="mlflow", tracking_uri=uri,
                              experiment_name="tiny", logging_file=False,
                              **_overrides(tmp_path / "data", out, epochs=2, features=4, run_name="fold0"))
    workflow.initialize()
    context = workflow.parser.get_parsed_content("run_context")
    track_evaluation(context, workflow.parser.get_parsed_content("evaluate#evaluator"))
    workflow.run()
    finish_tracking(context)
    workflow.finalize()
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])}
    evaluation = runs["fold0_evaluating"]
    assert evaluation.info.status == "FINISHED" and {"test_psnr", "test_ssim_011"} <= set(evaluation.data.metrics)
    assert evaluation.data.params["command"] == "evaluating"
    assert {"metrics.json", "metrics.csv", "scenario_100.png"} <= {
        a.path for a in client.list_artifacts(evaluation.info.run_id)}
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config", "logs", "metrics", "plots"]
