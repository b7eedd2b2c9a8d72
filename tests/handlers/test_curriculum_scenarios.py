"""Curriculum scenario sets per epoch range (also across a resume) and the engine hooks."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events

from monai_pipelines.handlers.curriculum_scenarios import CurriculumScenarios

STAGE0 = {"011", "101", "110"}
STAGE1 = STAGE0 | {"001", "010"}
STAGE2 = STAGE1 | {"100"}


def _engine(handler: CurriculumScenarios, record: list) -> Engine:
    def step(engine, batch):
        _, _, extras = handler.batch_transform(batch, batch, engine)
        record.append((engine.state.epoch, extras["scenario"]))

    engine = Engine(step)
    handler.attach(engine)
    return engine


def _sets(record):
    out: dict[int, set] = {}
    for epoch, s in record:
        out.setdefault(epoch, set()).add(s)
    return out


def test_stage_boundaries_exact():
    c = CurriculumScenarios(total_epochs=60)
    assert [c.stage(e) for e in (0, 19, 20, 39, 40, 59)] == [0, 0, 1, 1, 2, 2]
    c = CurriculumScenarios(total_epochs=10)  # boundaries ceil(10/3)=4, ceil(20/3)=7
    assert [c.stage(e) for e in range(10)] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    c = CurriculumScenarios(total_epochs=2)
    assert [c.stage(e) for e in range(2)] == [0, 1]
    assert {str(s) for s in CurriculumScenarios(6).scenarios(5)} == STAGE2


def test_scenario_sets_per_ignite_epoch_and_resume_mid_training():
    data = [torch.zeros(2, 3, 2, 2)] * 40
    full: list = []
    _engine(CurriculumScenarios(total_epochs=6, seed=3), full).run(data, max_epochs=6)
    sets = _sets(full)
    # 1-based Ignite epochs 1-2 -> stage 0, 3-4 -> stage 1, 5-6 -> stage 2 (N=6)
    assert sets == {1: STAGE0, 2: STAGE0, 3: STAGE1, 4: STAGE1, 5: STAGE2, 6: STAGE2}

    # interrupted after epoch 3, resumed from saved states into fresh objects
    part: list = []
    handler = CurriculumScenarios(total_epochs=6, seed=3)
    engine = _engine(handler, part)
    engine.add_event_handler(Events.EPOCH_COMPLETED(once=3), lambda e: e.terminate())
    engine.run(data, max_epochs=6)
    saved_engine, saved_handler = engine.state_dict(), handler.state_dict()

    resumed = CurriculumScenarios(total_epochs=6, seed=999)  # seed comes back from the state
    rest: list = []
    engine2 = _engine(resumed, rest)
    engine2.load_state_dict(saved_engine)
    resumed.load_state_dict(saved_handler)
    engine2.run(data, max_epochs=6)
    assert [e for e, _ in rest][0] == 4
    assert _sets(rest) == {4: STAGE1, 5: STAGE2, 6: STAGE2}
    assert part + rest == full  # the very same draws as without the interruption
    assert sum(resumed.counts.values()) == 6 * 40


def test_engine_hooks():
    c = CurriculumScenarios(total_epochs=3, seed=0, fixed_scenario="101")
    real = torch.rand(4, 3, 8, 8) + 0.1
    cond, target, extras = c.batch_transform(real.clone(), real, None)
    assert extras["scenario"] == "101" and extras["mask"].shape == (4, 3, 1, 1)
    assert torch.all(cond[:, 1] == 0) and torch.equal(cond[:, 0], real[:, 0])
    fake = torch.zeros_like(real)
    out = c.generator_output_transform(fake, cond, target, extras)
    assert torch.equal(out[:, 0], real[:, 0]) and torch.all(out[:, 1] == 0)
    weight = c.reconstruction_weight_fn(extras)
    assert weight[0, :, 0, 0].tolist() == [0.0, 1.0, 0.0]
    targets = c.discriminator_targets_fn(torch.zeros(4, 3, 2, 2), extras)
    assert targets.shape == (4, 3, 2, 2)
    assert targets[:, 0].eq(1).all() and targets[:, 1].eq(0).all() and targets[:, 2].eq(1).all()
