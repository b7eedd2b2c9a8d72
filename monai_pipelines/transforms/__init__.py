from .scenario_mask import ALL_SCENARIOS, Scenario, ScenarioMask, ScenarioMaskd, apply_scenario, implicit_conditioning
