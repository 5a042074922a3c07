"""The local provider's failures are one-line tunewise errors, whatever torch or transformers raised."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tunewise
from tunewise import ProviderError


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("config.json", "OSError: It looks like the config file"),
        ("model.safetensors", "SafetensorError"),
    ],
)
def test_a_broken_model_folder_is_one_provider_error(
    tiny_model: Path, tmp_path: Path, broken: str, expected: str
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_model, folder)
    (folder / broken).write_bytes(b"{not what it should be")
    model = tunewise.model(f"local:{folder}", device="cpu")
    with pytest.raises(ProviderError) as info:
        model.sync.chat("hi", max_tokens=2)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"local: cannot load {folder}: ")
    assert expected in message
    with pytest.raises(ProviderError, match="cannot load"):
        model.sync.chat("hi", max_tokens=2)  # the next call says the same, it does not hang or crash
    model.sync.close()


def test_embedding_a_broken_model_is_one_provider_error(tiny_model: Path, tmp_path: Path) -> None:
    import anyio

    folder = tmp_path / "broken"
    shutil.copytree(tiny_model, folder)
    (folder / "config.json").write_text("{", encoding="utf-8")
    provider = tunewise.load_plugin("local").create(
        tunewise.ProviderConfig(name="local", plugin="local", options={"device": "cpu"}, home=tmp_path)
    )
    with pytest.raises(ProviderError, match=r"^local: cannot load "):
        anyio.run(provider.embedder(str(folder)).embed, ["hello"])
    anyio.run(provider.aclose)
