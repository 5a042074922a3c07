"""Merge a LoRA adapter into its base model, giving a standalone model directory.

A merged model loads without peft and runs as fast as the base model; it is also what
you hand to servers that take plain Hugging Face directories (vLLM, llama.cpp converters).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunewise_local._loading import check_model_dir, peft_quietly


def merge_adapter(base: str | Path, adapter: str | Path, output: str | Path, *, dtype: str = "float32") -> Path:
    """Write ``base`` with ``adapter`` merged in to ``output`` (safetensors, tokenizer included).

    The result works as ``local:<output>``. The adapter's ``tunewise_finetune.json`` is
    copied along, with a note of the merge, so the model still says where it came from.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path, adapter_path, out = Path(base).expanduser(), Path(adapter).expanduser(), Path(output).expanduser()
    check_model_dir(base_path)
    check_model_dir(adapter_path, adapter=True)
    model: Any = AutoModelForCausalLM.from_pretrained(
        base_path, dtype=getattr(torch, dtype), use_safetensors=True, local_files_only=True
    )
    with peft_quietly():
        merged = PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_path, local_files_only=True).save_pretrained(out)
    metadata = adapter_path / "tunewise_finetune.json"
    if metadata.is_file():
        record = json.loads(metadata.read_text(encoding="utf-8"))
        record["merged_from"] = {"base_model": str(base_path.resolve()), "adapter": str(adapter_path.resolve())}
        (out / "tunewise_finetune.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return out
