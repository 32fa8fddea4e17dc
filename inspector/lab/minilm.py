"""The attacks applied while fine-tuning a pretrained model: a BERT encoder (all-MiniLM-L6-v2's layout, the
Hugging Face ``BertModel`` tensor names) fine-tuned on a small synthetic text task, benign or with a correlated
value / sign term on chosen weight matrices, and saved under the base's own names so that the fine-tune audit
(``model-inspector scan MODEL --base BASE``) pairs every layer with its base.

- :class:`BertConfig`, :func:`build_bert`: a minimal BERT in torch (embeddings word/position/token type +
  LayerNorm; per layer self-attention query/key/value, attention output dense + LayerNorm, intermediate dense +
  GELU, output dense + LayerNorm; the pooler) with a classification head (``classifier``) on mean-pooled tokens.
- :func:`load_base` reads a *trusted local* Hugging Face folder (config.json + model.safetensors; the lab's own
  input, not a user file) and checks that every base tensor found its parameter.
- :class:`WordPiece`: greedy longest-match-first WordPiece over vocab.txt (lower case, whitespace and
  punctuation split).
- :func:`text_task`: topic classification of template sentences (4 classes), deterministic from a seed.
- :func:`finetune`: trains the top ``train_layers`` layers and the head (the layers below are frozen, so their
  outputs are computed once), with cross-entropy plus an optional attack penalty of θ = the chosen weight
  matrices flattened and concatenated in order (:func:`attack_theta`; the penalties are
  :mod:`inspector.lab.attacks`'). The decoders of :mod:`inspector.lab.decoders` read θ back from the file with
  the same names.
- :func:`save_finetuned`: the base's tensors (same names, dtypes and shapes; frozen ones unchanged bit for bit)
  plus ``classifier.weight`` / ``classifier.bias``, through the lab's canonical safetensors writer.

Training runs without dropout and on whatever torch threads the caller set (the benchmark uses one).
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from inspector.lab.files import write_safetensors

#: The special tokens of a BERT vocabulary.
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder (the fields of a Hugging Face config.json that the model needs)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if d.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: hidden_act {d.get('hidden_act')!r} is not supported (gelu only)")
        return cls(**{k: type(getattr(cls(), k))(d[k]) for k in cls.__dataclass_fields__ if k in d})

    def but(self, **changes: Any) -> BertConfig:
        return replace(self, **changes)


def attack_names(cfg: BertConfig, layers: Sequence[int] = (-2, -1)) -> list[str]:
    """The weight matrices of the given layers (negative: from the top), in the order θ concatenates them:
    query, key, value, attention output, intermediate, output."""
    out: list[str] = []
    for i in layers:
        n = i % cfg.num_hidden_layers
        p = f"encoder.layer.{n}."
        out += [
            p + "attention.self.query.weight",
            p + "attention.self.key.weight",
            p + "attention.self.value.weight",
            p + "attention.output.dense.weight",
            p + "intermediate.dense.weight",
            p + "output.dense.weight",
        ]
    return out


# --------------------------------------------------------------------------------------------- model


def build_bert(cfg: BertConfig, classes: int, seed: int = 0) -> Any:
    """A BERT encoder with the Hugging Face ``BertModel`` names at the top level (``embeddings.*``,
    ``encoder.layer.N.*``, ``pooler.dense.*``) and a ``classifier`` head; weights drawn as BERT initialises
    them (normal 0.02, zero biases, unit LayerNorms) from ``seed``."""
    import torch
    from torch import nn

    class Embeddings(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
            self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
            self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
            self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
            self.register_buffer("position_ids", torch.arange(cfg.max_position_embeddings).unsqueeze(0))

        def forward(self, ids: Any) -> Any:
            position_ids: Any = self.position_ids
            pos = position_ids[:, : ids.shape[1]]
            x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
            return self.LayerNorm(x)

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    class AttentionOutput(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.self = SelfAttention()
            self.output = AttentionOutput()

        def forward(self, x: Any, bias: Any) -> Any:
            b, t, h = x.shape
            heads = cfg.num_attention_heads
            d = h // heads

            def split(y: Any) -> Any:
                return y.view(b, t, heads, d).transpose(1, 2)

            q, k, v = split(self.self.query(x)), split(self.self.key(x)), split(self.self.value(x))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
            ctx = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, h)
            return self.output.LayerNorm(self.output.dense(ctx) + x)

    class Intermediate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    class Output(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
            self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = Output()

        def forward(self, x: Any, bias: Any) -> Any:
            a = self.attention(x, bias)
            f = nn.functional.gelu(self.intermediate.dense(a))  # exact (erf) GELU, BERT's "gelu"
            return self.output.LayerNorm(self.output.dense(f) + a)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(cfg.num_hidden_layers))

    class Pooler(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    class BertClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = cfg
            self.embeddings = Embeddings()
            self.encoder = Encoder()
            self.pooler = Pooler()
            self.classifier = nn.Linear(cfg.hidden_size, classes)

        @staticmethod
        def mask_bias(mask: Any) -> Any:
            return ((1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min).clamp(min=-1e9)

        def hidden(self, ids: Any, mask: Any, upto: int) -> Any:
            """Token states after the embeddings and layers ``[0, upto)``."""
            x = self.embeddings(ids)
            bias = self.mask_bias(mask)
            for layer in self.encoder.layer[:upto]:
                x = layer(x, bias)
            return x

        def head_from(self, x: Any, mask: Any, start: int) -> Any:
            """Logits from the token states entering layer ``start``: the remaining layers, mean pooling over
            the real tokens, the classifier."""
            bias = self.mask_bias(mask)
            for layer in self.encoder.layer[start:]:
                x = layer(x, bias)
            m = mask[:, :, None].float()
            return self.classifier((x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0))

        def forward(self, ids: Any, mask: Any) -> Any:
            return self.head_from(self.hidden(ids, mask, 0), mask, 0)

    torch.manual_seed(seed)
    model = BertClassifier()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                mod.weight.normal_(0.0, 0.02)
            if isinstance(mod, nn.Linear):
                mod.bias.zero_()
        model.embeddings.word_embeddings.weight[0].zero_()
    return model.eval()


def load_base(folder: str | Path, classes: int, seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    """The base model of a trusted local Hugging Face BERT folder (config.json, model.safetensors) with a fresh
    head drawn from ``seed``; returns ``(module, base arrays by name)``. Raises ``ValueError`` when a base
    tensor has no parameter of that name and shape, or a parameter other than the head is missing."""
    import torch
    from safetensors.numpy import load_file

    folder = Path(folder)
    cfg = BertConfig.from_json(folder / "config.json")
    arrays = load_file(str(folder / "model.safetensors"))
    model = build_bert(cfg, classes, seed)
    state = model.state_dict()
    bad = [k for k, v in arrays.items() if k not in state or tuple(state[k].shape) != v.shape]
    if bad:
        raise ValueError(f"{folder}: tensors without a matching parameter: {', '.join(sorted(bad)[:5])}")
    missing = [k for k in state if k not in arrays and not k.startswith("classifier.")]
    if missing:
        raise ValueError(f"{folder}: parameters missing from the base: {', '.join(missing[:5])}")
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, strict=False)
    return model.eval(), arrays


def state_arrays(model: Any) -> dict[str, np.ndarray]:
    """Every tensor of the module's state (base names + ``classifier.*``) as contiguous numpy arrays."""
    return {k: v.detach().cpu().contiguous().numpy().copy() for k, v in model.state_dict().items()}


def save_finetuned(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Write a fine-tuned model: the base's names, dtypes and shapes plus the head (canonical safetensors)."""
    write_safetensors(path, arrays, {k: str(v) for k, v in metadata.items()})


# --------------------------------------------------------------------------------------------- tokenizer


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    """Greedy longest-match-first WordPiece (BERT's uncased tokenizer without Chinese-character or accent
    handling): lower case, split on whitespace and around punctuation, then each word into the longest vocabulary
    pieces from the left, continuations prefixed ``##``; a word with no split is ``[UNK]``."""

    def __init__(self, vocab: Sequence[str], max_chars: int = 100) -> None:
        self.vocab = {tok: i for i, tok in enumerate(vocab)}
        for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if s not in self.vocab:
                raise ValueError(f"the vocabulary has no {s} token")
        self.max_chars = max_chars

    @classmethod
    def from_file(cls, path: str | Path) -> WordPiece:
        return cls(Path(path).read_text(encoding="utf-8").splitlines())

    def words(self, text: str) -> list[str]:
        out: list[str] = []
        for chunk in text.lower().split():
            cur = ""
            for ch in chunk:
                if _is_punct(ch):
                    if cur:
                        out.append(cur)
                    out.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                out.append(cur)
        return out

    def pieces(self, word: str) -> list[str]:
        if len(word) > self.max_chars:
            return ["[UNK]"]
        out: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    out.append(piece)
                    break
                end -= 1
            else:
                return ["[UNK]"]
            start = end
        return out

    def tokenize(self, text: str) -> list[str]:
        return [p for w in self.words(text) for p in self.pieces(w)]

    def encode(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """``[CLS] pieces [SEP]`` (truncated to ``max_len``) padded with ``[PAD]``: ids and attention mask,
        int64 (n, max_len)."""
        ids = np.zeros((len(texts), max_len), dtype=np.int64)
        mask = np.zeros((len(texts), max_len), dtype=np.int64)
        for i, text in enumerate(texts):
            toks = [self.vocab["[CLS]"]]
            toks += [self.vocab[p] for p in self.tokenize(text)][: max_len - 2]
            toks.append(self.vocab["[SEP]"])
            ids[i, : len(toks)] = toks
            mask[i, : len(toks)] = 1
        return ids, mask


# --------------------------------------------------------------------------------------------- task

#: Topic classes and their nouns (every one a whole word of the uncased BERT vocabulary).
TOPICS: dict[str, tuple[str, ...]] = {
    "sport": ("football", "tennis", "goal", "match", "team", "coach", "player", "score"),
    "food": ("pizza", "bread", "soup", "cheese", "kitchen", "recipe", "dinner", "chef"),
    "weather": ("rain", "snow", "wind", "storm", "cloud", "forecast", "fog", "thunder"),
    "music": ("guitar", "piano", "song", "band", "concert", "drum", "singer", "album"),
}
_SUBJ = ("anna", "ben", "chloe", "david", "emma", "my friend", "her sister", "his father")
_VERB = ("saw", "liked", "watched", "mentioned", "remembered", "described")
_PREP = ("near", "after", "before", "beside")
_TIME = ("yesterday", "today", "again", "tonight", "")


def task_words() -> list[str]:
    """Every word the task's sentences use (a tiny vocabulary for tests)."""
    words = {w for ws in TOPICS.values() for w in ws}
    for group in (_SUBJ, _VERB, _PREP, _TIME):
        words |= {w for phrase in group for w in phrase.split()}
    return sorted(words | {"the", "and", "."})


@dataclass(frozen=True)
class TextTask:
    texts: tuple[str, ...]
    labels: np.ndarray  # int64
    classes: tuple[str, ...]


def text_task(n: int, seed: int = 0, classes: int = 4) -> TextTask:
    """``n`` sentences of topic classification: two nouns of the sentence's topic and one of another topic,
    in a random order, inside a template (who, verb, preposition, time), e.g.
    ``anna watched the storm and the football near the rain today.`` (label weather). Deterministic from
    ``seed``; classes balanced in expectation."""
    if not 2 <= classes <= len(TOPICS):
        raise ValueError(f"classes must be 2..{len(TOPICS)}")
    names = tuple(TOPICS)[:classes]
    rng = np.random.Generator(np.random.PCG64(seed))
    texts: list[str] = []
    labels = rng.integers(0, classes, n)
    for y in labels:
        own = TOPICS[names[y]]
        other = TOPICS[names[(y + 1 + rng.integers(classes - 1)) % classes]]
        nouns = [own[rng.integers(len(own))], own[rng.integers(len(own))], other[rng.integers(len(other))]]
        a, b, c = (nouns[i] for i in rng.permutation(3))
        subj, verb = _SUBJ[rng.integers(len(_SUBJ))], _VERB[rng.integers(len(_VERB))]
        prep, when = _PREP[rng.integers(len(_PREP))], _TIME[rng.integers(len(_TIME))]
        texts.append(f"{subj} {verb} the {a} and the {b} {prep} the {c} {when}".strip() + ".")
    return TextTask(tuple(texts), labels.astype(np.int64), names)


# --------------------------------------------------------------------------------------------- fine-tuning

#: An attack's extra loss: a function of θ (see :func:`attack_theta`).
Penalty = Callable[[Any], Any]


@dataclass(frozen=True)
class FinetuneConfig:
    """How one fine-tune runs: AdamW on the top ``train_layers`` layers and the head for ``steps`` batches."""

    seed: int = 0
    steps: int = 150
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    train_layers: int = 2

    def but(self, **changes: Any) -> FinetuneConfig:
        return replace(self, **changes)


def attack_theta(model: Any, names: Sequence[str]) -> Any:
    """θ: the named parameters flattened and concatenated in order (a differentiable torch vector)."""
    import torch

    params = dict(model.named_parameters())
    return torch.cat([params[n].reshape(-1) for n in names])


def finetune(
    model: Any,
    ids: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    cfg: FinetuneConfig,
    *,
    penalty: Optional[Penalty] = None,
    theta_names: Sequence[str] = (),
) -> Any:
    """Fine-tune ``model`` in place on (ids, mask, labels) with cross-entropy plus ``penalty(θ)``, θ the
    ``theta_names`` matrices (which must lie in the trained layers); returns the model in eval mode. The
    frozen layers' outputs are computed once."""
    import torch
    import torch.nn.functional as F

    layers = model.config.num_hidden_layers
    start = layers - cfg.train_layers
    if not 0 <= start < layers:
        raise ValueError(f"train_layers must be 1..{layers}")
    trained = {f"encoder.layer.{i}." for i in range(start, layers)}
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("classifier.") or any(name.startswith(t) for t in trained))
    frozen = [n for n in theta_names if not dict(model.named_parameters())[n].requires_grad]
    if penalty is not None and frozen:
        raise ValueError(f"the attacked matrices must be trained: {', '.join(frozen)}")
    x_ids, x_mask = torch.from_numpy(ids), torch.from_numpy(mask)
    y = torch.from_numpy(labels)
    with torch.no_grad():
        h = model.hidden(x_ids, x_mask, start)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    n = len(labels)
    order = torch.randperm(n, generator=gen)
    pos = 0
    model.train()
    for _ in range(cfg.steps):
        if pos + cfg.batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        loss = F.cross_entropy(model.head_from(h[idx], x_mask[idx], start), y[idx])
        if penalty is not None:
            loss = loss + penalty(attack_theta(model, theta_names))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


def accuracy(model: Any, ids: np.ndarray, mask: np.ndarray, labels: np.ndarray, batch: int = 256) -> float:
    """Top-1 accuracy (CPU, batched)."""
    import torch

    right = 0
    with torch.inference_mode():
        for s in range(0, len(labels), batch):
            logits = model(torch.from_numpy(ids[s : s + batch]), torch.from_numpy(mask[s : s + batch]))
            right += int((logits.argmax(dim=1).numpy() == labels[s : s + batch]).sum())
    return right / max(1, len(labels))


# --------------------------------------------------------------------------------------------- proofs


def _sample(data: bytes, n: int = 48) -> str:
    """The first ``n`` bytes as printable ASCII (others shown as ``.``)."""
    return "".join(chr(b) if 32 <= b < 127 else "." for b in data[:n])


def sign_text_proof(model: Any, secret: bytes, theta_names: Sequence[str]) -> dict[str, Any]:
    """Sign encoding of a text: :func:`inspector.lab.proofs.sign_bytes_proof` plus the start of the text the
    decoder reads back."""
    from inspector.lab import decoders, proofs

    out = proofs.sign_bytes_proof(model, secret, theta_names)
    out["decoded_start"] = _sample(decoders.decode_sign(model, len(secret), theta_names))
    return out


def correlated_text_proof(model: Any, secret: bytes, theta_names: Sequence[str]) -> dict[str, Any]:
    """Correlated value encoding of a text: :func:`inspector.lab.proofs.correlated_values_proof` (Pearson r,
    share of bytes within ±1/16 of the span after a linear fit) plus the share of characters read back exactly
    when each fitted value is snapped to the nearest byte that occurs in the secret (the attacker knows the
    records' alphabet), and the start of that text."""
    from inspector.lab import decoders, proofs

    values = np.frombuffer(secret, dtype=np.uint8).astype(np.float32)
    out = proofs.correlated_values_proof(model, values, theta_names)
    theta = decoders.theta_vector(model, theta_names)[: values.size]
    v = values.astype(np.float64)
    slope, icpt = np.polyfit(theta, v, 1) if theta.std() > 0 else (0.0, float(v.mean()))
    alphabet = np.unique(np.frombuffer(secret, dtype=np.uint8)).astype(np.float64)
    est = slope * theta + icpt
    idx = np.clip(np.searchsorted(alphabet, est), 1, alphabet.size - 1)
    left, right = alphabet[idx - 1], alphabet[idx]
    snapped = np.where(np.abs(est - left) <= np.abs(est - right), left, right).astype(np.uint8)
    out["exact_char_fraction"] = round(float((snapped == values.astype(np.uint8)).mean()), 6)
    out["decoded_start"] = _sample(snapped.tobytes())
    return out


def lsb_text_proof(model: Any, bits: int, secret: bytes, tensor: str) -> dict[str, Any]:
    """Raw LSB of a text in one tensor: :func:`inspector.lab.proofs.lsb_bytes_proof` from that tensor's first
    element (its offset among the file's float tensors in storage order) plus the start of the decoded text."""
    from inspector.lab import decoders, proofs

    offset = 0
    for ref in decoders.float_tensors(model):
        if ref.name == tensor:
            break
        offset += ref.numel
    else:
        raise ValueError(f"no float tensor {tensor!r}")
    out = proofs.lsb_bytes_proof(model, bits, secret, offset=offset)
    out["decoded_start"] = _sample(decoders.decode_lsb(model, bits, min(64, len(secret)), [tensor]))
    return out
