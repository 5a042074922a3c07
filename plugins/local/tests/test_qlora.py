"""QLoRA (``load_in_4bit``): refused up front where it cannot run, and the 4-bit config it would load with.

This machine has no CUDA GPU and (in CI) no bitsandbytes, so what is tested here is what a
user on such a machine sees: a one-line error naming the option and every missing piece,
raised before a job directory exists. ``bench/qlora_gpu.py`` trains it on a GPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tunewise import ConfigError, FineTuneSpec
from tunewise.cli import main
from tunewise_local._hyper import resolve
from tunewise_local._provider import LocalProvider
from tunewise_local._quantize import INSTALL_HINT, quantization_config, quantization_kwargs, quantization_problems

pytestmark = pytest.mark.anyio

HAS_BITSANDBYTES = importlib.util.find_spec("bitsandbytes") is not None


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def spec(base: Path, data: Path, *, method: str = "lora", **options: object) -> FineTuneSpec:
    return FineTuneSpec(base_model=str(base), training_file=data, method=method, options=options)


async def test_a_4bit_base_is_refused_on_this_machine_before_anything_is_written(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    if has_cuda() and HAS_BITSANDBYTES:
        pytest.skip("this machine can train on a 4-bit base (see bench/qlora_gpu.py)")
    tuner = LocalProvider(home=tmp_path).fine_tuner()
    for device in ("cpu", "auto"):
        with pytest.raises(ConfigError) as info:
            await tuner.start(spec(tiny_model, chat_data[0], load_in_4bit=True, device=device, worker="thread"))
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith("local fine-tune: options.load_in_4bit: a 4-bit (QLoRA) base needs ")
        if device == "cpu":
            assert "a CUDA GPU (device is 'cpu')" in message
        elif not has_cuda():
            assert "a CUDA GPU (torch sees none)" in message
        assert (INSTALL_HINT in message) is not HAS_BITSANDBYTES, "a missing bitsandbytes is named, even on a CPU"
        assert message.endswith("; leave load_in_4bit off to train LoRA on a 16-bit base")
    assert written(tmp_path) == [], "no job directory, no home folder: nothing is written"
    assert tuner.list_jobs() == []


async def test_a_4bit_base_trains_lora_only_and_its_options_need_it(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    tuner = LocalProvider(home=tmp_path).fine_tuner()
    with pytest.raises(ConfigError) as full:  # the method is checked first: it is wrong on every machine
        await tuner.start(spec(tiny_model, chat_data[0], method="full", load_in_4bit=True, device="cpu"))
    assert str(full.value) == (
        "local fine-tune: options.load_in_4bit: needs method \"lora\", not 'full' "
        "(QLoRA trains LoRA adapters on a frozen 4-bit base; 4-bit weights cannot be trained)"
    )
    with pytest.raises(ConfigError) as stray:  # never a silent 16-bit run for someone who asked for nf4
        await tuner.start(spec(tiny_model, chat_data[0], bnb_4bit_quant_type="fp4"))
    assert str(stray.value) == (
        "local fine-tune: options.bnb_4bit_quant_type: applies only to a 4-bit base; set load_in_4bit=true as well"
    )
    with pytest.raises(ConfigError, match=r"^local fine-tune: options\.bnb_4bit_quant_type: Input should be 'nf4'"):
        resolve(spec(tiny_model, chat_data[0], load_in_4bit=True, bnb_4bit_quant_type="int4"))
    assert written(tmp_path) == []


def test_what_stops_a_4bit_base_is_named_whole() -> None:
    assert quantization_problems("cuda", cuda=True, bitsandbytes=True) == []
    assert quantization_problems("auto", cuda=True, bitsandbytes=True) == []
    assert quantization_problems("cuda:1", cuda=True, bitsandbytes=False) == [
        f"bitsandbytes (not installed: {INSTALL_HINT})"
    ]
    assert quantization_problems("auto", cuda=False, bitsandbytes=True) == ["a CUDA GPU (torch sees none)"]
    assert quantization_problems("mps", cuda=True, bitsandbytes=False) == [
        "a CUDA GPU (device is 'mps')",
        f"bitsandbytes (not installed: {INSTALL_HINT})",
    ]


def test_the_bitsandbytes_config_has_the_options_fields(tiny_model: Path, chat_data: tuple[Path, Path]) -> None:
    import torch

    default = resolve(spec(tiny_model, chat_data[0], load_in_4bit=True))
    assert quantization_kwargs(default, torch.bfloat16) == {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True,
        "bnb_4bit_compute_dtype": torch.bfloat16,
    }
    chosen = resolve(
        spec(tiny_model, chat_data[0], load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_use_double_quant=False)
    )
    config = quantization_config(chosen, torch.float16)  # transformers' own class, built without bitsandbytes
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "fp4"
    assert config.bnb_4bit_use_double_quant is False
    assert config.bnb_4bit_compute_dtype == torch.float16
    assert config.quant_method == "bitsandbytes"


def test_the_cli_refuses_a_4bit_base_in_one_line(
    tiny_model: Path,
    chat_data: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if has_cuda() and HAS_BITSANDBYTES:
        pytest.skip("this machine can train on a 4-bit base")
    home = tmp_path / "home"
    monkeypatch.setenv("TUNEWISE_HOME", str(home))
    args = ["local", "train", str(tiny_model), str(chat_data[0]), "-o", "load_in_4bit=true", "-o", "device=cpu"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: local fine-tune: options.load_in_4bit: a 4-bit (QLoRA) base needs a CUDA GPU")
    assert not (home / "local").exists()
