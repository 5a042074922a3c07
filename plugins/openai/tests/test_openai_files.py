"""The Files API through the provider: upload with a purpose, read back, list, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunewise import DataError, NotFoundError

pytestmark = pytest.mark.anyio


async def test_upload_read_list_delete(provider_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b'{"custom_id": "a"}\n')
    async with provider_factory() as provider:
        from_path = await provider.files.upload(path, purpose="batch")
        from_bytes = await provider.files.upload(b"{}\n", purpose="fine-tune", filename="train.jsonl")
        assert (from_path.filename, from_path.purpose, from_path.bytes) == ("requests.jsonl", "batch", 19)
        assert (await provider.files.retrieve(from_bytes.id)).filename == "train.jsonl"
        assert await provider.files.content(from_path.id) == b'{"custom_id": "a"}\n'
        assert [f.id for f in await provider.files.list(purpose="batch")] == [from_path.id]
        assert await provider.files.delete(from_path.id) is True
        with pytest.raises(NotFoundError, match="No such File object"):
            await provider.files.retrieve(from_path.id)


async def test_missing_file_is_a_data_error(provider_factory: Any, tmp_path: Path) -> None:
    async with provider_factory() as provider:
        with pytest.raises(DataError, match=r"missing\.jsonl: cannot read file"):
            await provider.files.upload(tmp_path / "missing.jsonl", purpose="batch")
