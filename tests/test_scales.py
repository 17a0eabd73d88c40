"""Scale presets: merged under the user's config, and tiny's limits hold whatever it says."""

from pathlib import Path

import yaml

from radsynth.scales import apply_limits, deep_merge

REPO = Path(__file__).resolve().parents[1]


def test_the_users_keys_win_and_inputs_stay_untouched():
    preset = {"translation": {"iterations": 60, "generator": {"filters": 8}}, "seed": 0}
    user = {"translation": {"generator": {"filters": 64}}}
    merged = deep_merge(preset, user)
    assert merged == {"translation": {"iterations": 60, "generator": {"filters": 64}}, "seed": 0}
    assert preset["translation"]["generator"]["filters"] == 8


def test_limits_cut_numbers_and_lists_and_unset_epochs():
    config = {
        "preprocess": {"size": [96, 96, 64]},
        "translation": {"iterations": 5000, "epochs": 80, "generator": {"filters": 4}},
        "segmentation": {"network": {"channels": [16, 32, 64, 128]}, "patch_size": None},
        "diffusion": {"latent": None},
    }
    limits = {"preprocess.size": 32, "translation.iterations": 60, "translation.epochs": None,
              "translation.generator.filters": 8, "segmentation.network.channels": 32,
              "segmentation.patch_size": 32, "diffusion.latent.iterations": 10, "gan.iterations": 20}
    limited, changes = apply_limits(config, limits)
    assert limited["preprocess"]["size"] == [32, 32, 32]
    assert limited["translation"] == {"iterations": 60, "epochs": None, "generator": {"filters": 4}}
    assert limited["segmentation"] == {"network": {"channels": [16, 32, 32, 32]}, "patch_size": None}
    assert limited["diffusion"] == {"latent": None} and "gan" not in limited
    assert changes == ["preprocess.size: [96, 96, 64] -> [32, 32, 32]", "translation.iterations: 5000 -> 60",
                       "translation.epochs: 80 -> None", "segmentation.network.channels: [16, 32, 64, 128] -> [16, 32, 32, 32]"]
    assert config["preprocess"]["size"] == [96, 96, 64]  # the input is left as it was


def test_tiny_limits_cover_every_size_the_tiny_preset_sets():
    # Each number the tiny preset sets for sizes, widths and schedules is also a limit, so a
    # user's config cannot undo the preset's point.
    tiny = yaml.safe_load((REPO / "config" / "scales" / "tiny.yaml").read_text())
    limits = tiny.pop("limits")
    costly = ("iterations", "batch_size", "size", "filters", "residual_blocks", "channels", "features",
              "sampling_steps", "per_mask", "folds", "subjects", "shape", "prompt_dim", "embedding_channels")

    def leaves(section, prefix=""):
        for key, value in section.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    for key, value in leaves(tiny):
        if key.rsplit(".", 1)[-1] in costly and key not in ("augmentation.methods",):
            assert key in limits, key
            assert apply_limits({"x": value}, {"x": limits[key]})[0]["x"] == value, key  # the preset is within


def test_tiny_limits_every_schedule_of_the_schema():
    # A schedule the schema gains (a model's own iterations) is bounded at tiny from the start.
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    limits = yaml.safe_load((REPO / "config" / "scales" / "tiny.yaml").read_text())["limits"]

    def paths(node, prefix=""):
        for key, value in (node.get("properties") or {}).items():
            yield f"{prefix}{key}"
            if isinstance(value, dict):
                yield from paths(value, f"{prefix}{key}.")

    schedules = [path for path in paths(schema) if path.endswith("iterations")]
    assert "diffusion.ddpm.iterations" in schedules and "diffusion.pretrain.controlnet.iterations" in schedules
    assert [path for path in schedules if path not in limits] == []
