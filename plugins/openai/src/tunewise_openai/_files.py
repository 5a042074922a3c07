"""The Files API: upload training and batch files, read results, delete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import anyio
import httpx
from pydantic import BaseModel, ConfigDict

from tunewise import DataError
from tunewise_openai._http import HTTPClient

Purpose = Literal["fine-tune", "batch", "assistants", "vision", "user_data", "evals"]


class FileObject(BaseModel):
    """An uploaded file, as the server describes it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    filename: str
    purpose: str
    bytes: int | None = None
    created_at: int | None = None
    status: str | None = None


class Files:
    """``provider.files``: upload, list, read and delete files on the server."""

    def __init__(self, http: HTTPClient) -> None:
        self._http = http

    def _file(self, action: str) -> Callable[[httpx.Response], FileObject]:
        """A ``parse`` for answers that are one file object (a wrong shape is a retryable ServerError)."""
        read = self._http.json_parser(action)
        return lambda response: FileObject.model_validate(read(response))

    async def upload(self, source: str | Path | bytes, *, purpose: Purpose, filename: str | None = None) -> FileObject:
        """Upload a file (a path, or bytes with ``filename``) for ``purpose``."""
        if isinstance(source, bytes):
            content, name = source, filename or "upload.jsonl"
        elif not isinstance(source, str | Path):
            raise DataError(f"upload() takes a path or bytes, not {type(source).__name__}", field="source")
        else:
            path = Path(source)
            try:
                content = await anyio.Path(path).read_bytes()
            except OSError as exc:
                raise DataError(f"cannot read file: {exc.strerror}", path=path) from None
            name = filename or path.name
        return await self._http.request(
            "POST",
            "files",
            self._file("POST files"),
            files={"file": (name, content, "application/jsonl")},
            data={"purpose": purpose},
        )

    async def retrieve(self, file_id: str) -> FileObject:
        return await self._http.request("GET", f"files/{file_id}", self._file(f"GET files/{file_id}"))

    async def list(self, *, purpose: str | None = None) -> list[FileObject]:
        read = self._http.json_parser("GET files")

        def parse(response: httpx.Response) -> list[FileObject]:
            return [FileObject.model_validate(item) for item in read(response).get("data") or []]

        return await self._http.request("GET", "files", parse, params={"purpose": purpose} if purpose else None)

    async def content(self, file_id: str) -> bytes:
        """The file's bytes (batch output and error files, fine-tune result files)."""
        return await self._http.request("GET", f"files/{file_id}/content", lambda response: response.content)

    async def delete(self, file_id: str) -> bool:
        data = await self._http.delete_json(f"files/{file_id}")
        return bool(data.get("deleted"))
