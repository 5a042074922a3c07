"""Local generation throughput against Hugging Face ``generate`` on the same requests in one padded batch.

For each model, each concurrency and each case, N chat requests are sent at once to a
``LocalProvider`` (``max_batch_size`` = N, so it may batch them all), and the same N
prompts go to ``model.generate`` as one left-padded batch: greedy, same token budget,
same weights. The table gives completion tokens per second for both and their ratio
(ours / HF; the target is >= 1.0), with the engine's stats (prompt tokens reused from
shared prefixes, mean running batch) and whether every answer matches ``generate``'s.

Cases: ``plain`` is a support-bot prompt (a system prompt and a question);
``fewshot`` puts a long shared block of worked examples (~600-1000 tokens) in front of
each question, as few-shot ladder rungs do. Rounds alternate which side runs first, so
machine noise hits both alike; the ratio reported is the median of per-round ratios.

    .venv/bin/python bench/local_batching.py --model tiny /path/to/smollm2-135m-instruct \\
        --concurrency 8 16 --new-tokens 64 --rounds 3

``tiny`` builds a small random Llama here (``--hidden``/``--layers`` set its shape);
any other value is a Hugging Face model directory with a chat template.
``--no-prefix-sharing`` computes every prompt in full, to see what sharing brings.
``generate`` runs in a thread of its own, as the engine does (see :func:`in_thread`);
``--hf-on-main`` runs it on the main thread instead, which slows the engine's thread.
Torch keeps its default thread count.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SYSTEM = (
    "You are the customer support assistant of Acme Shop, an online store for home and garden goods. "
    "Answer the customer's question in one or two short, friendly sentences. Use only the policies below; "
    "if the answer is not there, say you do not know and offer to connect the customer with a human agent. "
    "Policies: refunds within 30 days of delivery; free shipping on orders over 50 euros; support is open "
    "Monday to Friday, 9:00 to 17:00; gift cards never expire; invoices are on the Billing page."
)

QUESTIONS = [
    "What is the refund window?",
    "How do I reset my password?",
    "Is shipping free?",
    "When is support open?",
    "Do gift cards expire?",
    "Where can I find my invoices?",
    "My parcel arrived damaged, what now?",
    "Can I change my plan?",
    "Do you ship to Norway?",
    "How long does delivery take?",
    "Can I pay with PayPal?",
    "I was charged twice for one order.",
    "How do I delete my account?",
    "Can I return a used item?",
    "Is there a student discount?",
    "What does the warranty cover?",
]

EXAMPLES = [
    ("How long do I have to return a lamp?", "You can return it within 30 days of delivery for a full refund."),
    ("Is delivery free for a 60 euro order?", "Yes, shipping is free on orders over 50 euros."),
    ("Are you open on Saturday?", "Our support team is available Monday to Friday, from 9:00 to 17:00."),
    ("My gift card is from 2019, can I still use it?", "Yes, gift cards never expire, so you can still use it."),
    ("Where do I download my invoice?", "You will find all your invoices on the Billing page of your account."),
    ("Can I get a refund after two months?", "I'm sorry, refunds are only possible within 30 days of delivery."),
    ("Do you sell garden furniture?", "Yes, we sell home and garden goods, including garden furniture."),
    ("Can I talk to a person?", "Of course, I can connect you with a human agent during opening hours."),
    ("What is your phone number?", "I do not know that, but I can connect you with a human agent who can help."),
    ("Is shipping free for a 20 euro order?", "Shipping is free from 50 euros; below that a shipping fee applies."),
    ("I lost my invoice, what do I do?", "No problem: every invoice can be downloaded again from the Billing page."),
    ("Do refunds include shipping costs?", "Refunds cover the item price; please ask an agent about shipping costs."),
    ("Can I return a gift?", "Yes, gifts can be returned within 30 days of delivery like any other item."),
    ("Is support open on public holidays?", "I do not know our holiday hours; I can connect you with a human agent."),
    ("How do I use a gift card?", "Enter the gift card code at checkout; it never expires."),
    ("Do you deliver on Sundays?", "I do not know that, but a human agent can tell you about delivery days."),
]


def messages(case: str, question: str) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": SYSTEM}]
    if case == "fewshot":
        for q, a in EXAMPLES:
            turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return [*turns, {"role": "user", "content": question}]


@dataclass
class Side:
    tokens_per_s: list[float] = field(default_factory=list)
    texts: list[list[str]] = field(default_factory=list)


async def ours(
    model: str, case: str, n: int, new_tokens: int, device: str, share: bool = True
) -> tuple[float, int, list[str], Any]:
    import anyio

    from tunewise import ChatRequest, Message
    from tunewise_local import LocalOptions, LocalProvider

    provider = LocalProvider(options=LocalOptions.parse({"max_batch_size": n, "device": device}))
    provider._engine.share_prefixes = share  # no option for it: sharing is on wherever the model allows
    await provider.load(model)  # loading is not what is measured (the model is already in memory)
    texts: dict[int, str] = {}
    counts: dict[int, int] = {}

    async def ask(i: int) -> None:
        turns = tuple(Message(role=m["role"], content=m["content"]) for m in messages(case, QUESTIONS[i]))
        request = ChatRequest(model=model, messages=turns, temperature=0, max_tokens=new_tokens)
        response = await provider.chat(request)
        texts[i], counts[i] = response.text, response.usage.completion_tokens or 0

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(ask, i)
    elapsed = time.perf_counter() - started
    stats = provider.stats
    await provider.aclose()
    return elapsed, sum(counts.values()), [texts[i] for i in range(n)], stats


def generate(loaded: Any, case: str, n: int, new_tokens: int) -> tuple[float, int, list[str]]:
    """``model.generate`` on the n prompts as one left-padded batch, greedy."""
    import torch

    prompts = [loaded.chat_prompt(messages(case, QUESTIONS[i])) for i in range(n)]
    width = max(len(p) for p in prompts)
    ids = torch.full((n, width), loaded.pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, prompt in enumerate(prompts):
        ids[i, width - len(prompt) :] = torch.tensor(prompt)
        mask[i, width - len(prompt) :] = 1
    started = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids.to(loaded.device),
            attention_mask=mask.to(loaded.device),
            max_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=loaded.pad_token_id,
        )
    elapsed = time.perf_counter() - started
    total, texts = 0, []
    for row in out[:, width:].tolist():
        end = next((j for j, t in enumerate(row) if t in loaded.eos_token_ids), None)
        answer = row if end is None else row[:end]
        total += len(answer) + (0 if end is None else 1)  # the end-of-turn token counts, as in usage
        texts.append(loaded.tokenizer.decode(answer, skip_special_tokens=True))
    return elapsed, total, texts


def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run ``function`` in a thread of its own that ends with it.

    torch's OpenMP keeps a pool of worker threads per thread that runs torch ops, and
    with more pooled threads than cores (2 here) every pool stops spinning and sleeps
    between ops, which makes small ops several times slower. The engine decodes in its
    own thread (ended by ``aclose``), so everything else that runs torch here (loading,
    ``generate``) runs in a thread that ends too: each side runs with its pool alone.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = function(*args)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


def build_tiny(directory: Path, hidden: int, layers: int) -> Path:
    from tunewise_local.tiny import DEFAULT_CORPUS, build_tiny_model

    corpus = [*DEFAULT_CORPUS, SYSTEM, *QUESTIONS, *(f"{q} {a}" for q, a in EXAMPLES)]
    return build_tiny_model(
        directory,
        corpus,
        vocab_size=2000,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=max(1, hidden // 64),
        max_position_embeddings=4096,
    )


def hf_generate(loaded: Any, case: str, n: int, new_tokens: int, on_main: bool) -> tuple[float, int, list[str]]:
    return generate(loaded, case, n, new_tokens) if on_main else in_thread(generate, loaded, case, n, new_tokens)


def measure(loaded: Any, path: str, label: str, args: argparse.Namespace) -> None:
    """Print one line per case and concurrency for one model."""
    import anyio

    anyio.run(ours, path, "plain", 2, 4, args.device)  # warm-up
    hf_generate(loaded, "plain", 2, 4, args.hf_on_main)
    for case in args.cases:
        for n in args.concurrency:
            mine, theirs, ratios = Side(), Side(), []
            stats: Any = None
            for r in range(args.rounds):
                if r % 2:
                    t_h, n_h, texts_h = hf_generate(loaded, case, n, args.new_tokens, args.hf_on_main)
                t_o, n_o, texts_o, stats = anyio.run(
                    ours, path, case, n, args.new_tokens, args.device, not args.no_prefix_sharing
                )
                if not r % 2:
                    t_h, n_h, texts_h = hf_generate(loaded, case, n, args.new_tokens, args.hf_on_main)
                mine.tokens_per_s.append(n_o / t_o)
                theirs.tokens_per_s.append(n_h / t_h)
                ratios.append(mine.tokens_per_s[-1] / theirs.tokens_per_s[-1])
                mine.texts.append(texts_o)
                theirs.texts.append(texts_h)
            same = sum(a == b for a, b in zip(mine.texts[-1], theirs.texts[-1], strict=True))
            prompt = statistics.mean(len(loaded.chat_prompt(messages(case, q))) for q in QUESTIONS[:n])
            reused = stats.reused_tokens / max(1, stats.prompt_tokens)
            rows = stats.rows_decoded / max(1, stats.steps)
            print(
                f"{label:10} {case:8} {n:>3} {prompt:>7.0f} {statistics.median(mine.tokens_per_s):>11.1f}"
                f" {statistics.median(theirs.tokens_per_s):>9.1f} {statistics.median(ratios):>5.2f}x"
                f"  {' '.join(f'{x:.2f}' for x in ratios):18} {reused:>6.0%} {rows:>5.1f} {same:>2}/{n:<2}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["tiny"], help="'tiny' or model directories")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--cases", nargs="+", choices=["plain", "fewshot"], default=["plain", "fewshot"])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=256, help="tiny model width")
    parser.add_argument("--layers", type=int, default=4, help="tiny model depth")
    parser.add_argument("--no-prefix-sharing", action="store_true", help="compute every prompt in full (ours)")
    parser.add_argument(
        "--hf-on-main",
        action="store_true",
        help="run generate on the main thread (its OpenMP pool then outlives it, and slows the engine's thread)",
    )
    args = parser.parse_args()
    if max(args.concurrency) > len(QUESTIONS):
        parser.error(f"at most {len(QUESTIONS)} concurrent requests")

    import torch
    from transformers.utils import logging

    from tunewise_local._loading import MODELS, LoadOptions

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    where = "the main thread" if args.hf_on_main else "a thread of its own"
    print(
        f"device={args.device} torch threads={torch.get_num_threads()} new tokens={args.new_tokens} greedy; "
        f"generate runs on {where}; prefix sharing {'off' if args.no_prefix_sharing else 'on'}"
    )
    header = (
        f"{'model':10} {'case':8} {'N':>3} {'prompt':>7} {'ours tok/s':>11} {'HF tok/s':>9} {'ratio':>6}"
        f"  {'per round':18} {'reused':>7} {'rows':>5} {'same':>5}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.model:
            path = str(in_thread(build_tiny, Path(tmp) / "tiny", args.hidden, args.layers)) if name == "tiny" else name
            loaded = in_thread(MODELS.acquire, path, LoadOptions(device=args.device))
            try:
                measure(loaded, path, "tiny" if name == "tiny" else Path(name).name[:10], args)
            finally:
                MODELS.release(loaded)
        print("\nprompt: mean prompt tokens; reused: prompt tokens taken from a shared prefix (last round);")
        print("rows: mean running batch per decode step; same: answers identical to generate's (last round)")


if __name__ == "__main__":
    main()
