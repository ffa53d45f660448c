import pytest

from archloop.config import ConfigError, RunConfig, config_from_dict, known_presets, load_config


def write(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_presets_exist_and_paper_matches_the_paper():
    assert set(known_presets()) >= {"paper", "gpu-small", "demo"}
    paper = load_config(preset="paper")
    assert paper.model.id == "deepseek-ai/deepseek-coder-7b-instruct-v1.5" and paper.model.quantization == "4bit"
    assert (paper.run.cycles, paper.run.candidates_per_cycle) == (22, 150)
    assert paper.evaluation.protocol == "paper"
    assert (paper.lora.r, paper.lora.alpha, paper.lora.dropout) == (32, 32, 0.05)
    assert len(paper.lora.target_modules) == 7
    assert (paper.sft.learning_rate, paper.sft.epochs, paper.sft.later_epochs, paper.sft.grad_accum) == (1e-5, 5, 2, 8)
    assert (paper.generation.temperature, paper.generation.top_k, paper.generation.top_p) == (0.7, 100, 0.95)
    assert (paper.novelty.threshold, paper.novelty.num_perm, paper.novelty.shingle) == (0.85, 128, 7)
    assert (paper.selection.threshold, paper.selection.fallback_threshold, paper.selection.min_selected) == (40, 35, 15)
    assert load_config(preset="gpu-small").model.id == "deepseek-ai/deepseek-coder-1.3b-instruct"
    demo = load_config(preset="demo")
    assert demo.model.id == "demo" and demo.evaluation.protocol == "fast" and demo.run.cycles == 3


def test_a_file_names_a_preset_and_overrides_single_keys(tmp_path):
    path = write(tmp_path, 'preset = "demo"\n[run]\ncycles = 5\n[generation]\ntemperature = 0.9\n')
    config = load_config(path)
    assert config.preset == "demo" and config.run.cycles == 5 and config.generation.temperature == 0.9
    assert config.run.candidates_per_cycle == load_config(preset="demo").run.candidates_per_cycle
    assert load_config(path, preset="paper").run.candidates_per_cycle == 150  # --preset wins over the file's


def test_config_round_trips_through_its_stored_dict():
    config = load_config(preset="demo")
    assert config_from_dict(config.to_dict()) == config
    assert isinstance(config_from_dict({}), RunConfig)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[generation]\ntemperature = "hot"\n',
            "config.toml: [generation] temperature must be a number > 0, got 'hot'",
        ),
        ("[generation]\ntemperature = 0\n", "config.toml: [generation] temperature must be a number > 0, got 0"),
        ("[run]\ncycles = 2.5\n", "config.toml: [run] cycles must be an integer > 0, got 2.5"),
        ("[run]\ncycles = true\n", "config.toml: [run] cycles must be an integer > 0, got True"),
        ("[run]\ncycels = 3\n", "config.toml: [run] unknown key 'cycels'"),
        ("[runn]\ncycles = 3\n", "config.toml: unknown table or key 'runn'"),
        (
            '[evaluation]\nprotocol = "slow"\n',
            "config.toml: [evaluation] protocol must be one of 'paper', 'fast', got 'slow'",
        ),
        ("[novelty]\nthreshold = 1.5\n", "config.toml: [novelty] threshold must be a number in (0, 1], got 1.5"),
        ("[lora]\ntarget_modules = [1]\n", "config.toml: [lora] target_modules[0] must be a string"),
        ("[sft]\nbf16 = 1\n", "config.toml: [sft] bf16 must be true or false, got 1"),
        ("[selection]\nthreshold = 30.0\nfallback_threshold = 35.0\n", "fallback_threshold (35.0) must not exceed"),
        ("run = 3\n", "config.toml: [run] must be a table, got 3"),
        ("[run\n", "config.toml: not valid TOML"),
        ("preset = 3\n", "config.toml: preset must be a string, got 3"),
        (
            '[model]\nquantization = "3bit"\n',
            "config.toml: [model] quantization must be one of 'none', '4bit', '8bit', got '3bit'",
        ),
        (
            '[model]\ndevice = "gpu"\n',
            "config.toml: [model] device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'",
        ),
        (
            '[sft]\noptimizer = "sgd"\n',
            "config.toml: [sft] optimizer must be one of 'paged_adamw_8bit', 'adamw_8bit', 'adamw', 'adamw_torch', "
            "got 'sgd'",
        ),
        (
            '[evaluation]\ndevices = ["cuda:0", "tpu"]\n',
            "config.toml: [evaluation] devices must be a list made of 'cpu', 'cuda' or 'cuda:N', got ['cuda:0', 'tpu']",
        ),
        (
            '[evaluation]\ndevices = ["auto"]\n',
            "config.toml: [evaluation] devices must be a list made of 'cpu', 'cuda' or 'cuda:N', got ['auto']",
        ),
        ("[evaluation]\nmemory_limit_mb = -1\n", "config.toml: [evaluation] memory_limit_mb must be an integer >= 0"),
        ("[evaluation]\nray_num_gpus = -0.5\n", "config.toml: [evaluation] ray_num_gpus must be a number >= 0"),
        ("[novelty]\nnum_perm = 1\n", "config.toml: [novelty] num_perm must be an integer in [2, 65535], got 1"),
        ("[generation]\nretries = 2\n", "config.toml: [generation] unknown key 'retries'"),
        ("[novelty]\nshingle_size = 5\n", "config.toml: [novelty] unknown key 'shingle_size'"),
    ],
)
def test_bad_values_name_the_file_table_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_unknown_preset_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown preset 'huge' \(known presets: demo, gpu-small, paper"):
        load_config(preset="huge")
    with pytest.raises(ConfigError, match="unknown preset 'tiny'"):
        load_config(write(tmp_path, 'preset = "tiny"\n'))


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_sft_epoch_schedule_follows_the_paper():
    sft = load_config(preset="paper").sft
    assert [sft.epochs_for(c) for c in (1, 5, 6, 22)] == [5, 5, 2, 2]


def test_a_run_may_set_its_training_batch_size_and_the_executor_uses_it(tmp_path):
    from archloop.evaluation.evaluate import FAST
    from archloop.run.llm_stages import LlmStages

    assert load_config(preset="paper").evaluation.batch_size is None
    path = write(tmp_path, 'preset = "demo"\n[evaluation]\nbatch_size = 48\n')
    stages = LlmStages(load_config(path), tmp_path / "run")
    protocol = stages._protocol()
    assert protocol.batch_size == 48 and protocol.name == "fast" and protocol.lr == FAST.lr
    stages = LlmStages(config_from_dict({"evaluation": {"protocol": "fast"}}), tmp_path / "run2")
    assert stages._protocol() == FAST
    with pytest.raises(ConfigError, match="batch_size must be an integer > 0"):
        load_config(write(tmp_path, "[evaluation]\nbatch_size = 0\n"))


@pytest.mark.parametrize("preset", known_presets())
def test_every_key_of_every_preset_is_checked_and_its_section_is_what_the_stage_reads(preset):
    from archloop.config import PRESET_DIR, _read_toml

    config = load_config(preset=preset)
    assert config_from_dict(config.to_dict()) == config  # stored runs reload as they were
    keys = [(table, key) for table, values in _read_toml(PRESET_DIR / f"{preset}.toml").items() for key in values]
    assert keys
    for table, key in keys:
        assert hasattr(getattr(config, table), key)  # the TOML name is the field the stage reads
        with pytest.raises(ConfigError) as err:
            config_from_dict({**config.to_dict(), table: {key: {"not": "a value"}}})
        assert f"[{table}] {key}" in str(err.value) and "{'not': 'a value'}" in str(err.value)


def test_each_stage_owns_its_section():
    from archloop.evaluation.settings import EvaluationSettings
    from archloop.llm.settings import GenerationSettings, LoraSettings, ModelSettings, SftSettings
    from archloop.novelty.settings import NoveltySettings

    config = load_config(preset="paper")
    assert isinstance(config.model, ModelSettings) and isinstance(config.generation, GenerationSettings)
    assert isinstance(config.lora, LoraSettings) and isinstance(config.sft, SftSettings)
    assert isinstance(config.novelty, NoveltySettings) and isinstance(config.evaluation, EvaluationSettings)


def test_memory_limit_zero_means_no_cap_and_a_number_caps(tmp_path):
    from archloop.run.llm_stages import LlmStages

    assert load_config(preset="paper").evaluation.memory_limit_mb == 0
    assert LlmStages(load_config(preset="paper"), tmp_path / "a")._limits.memory_mb is None
    capped = config_from_dict({"evaluation": {"memory_limit_mb": 4096}})
    assert LlmStages(capped, tmp_path / "b")._limits.memory_mb == 4096


def test_valid_devices_and_8bit_quantization_are_accepted():
    config = config_from_dict(
        {"model": {"device": "cuda:1", "quantization": "8bit"}, "evaluation": {"devices": ["cpu", "cuda", "cuda:3"]}}
    )
    assert config.model.device == "cuda:1" and config.model.quantization == "8bit"
    assert config.evaluation.devices == ["cpu", "cuda", "cuda:3"]
