"""Benchmark harness for dummy_training: how close does adding hyperparameters.json get to I/O?

Run from anywhere, with no install (stdlib only)::

    python benchmarks/bench.py [--size MIB] [--repeat N] [--json FILE] [--keep DIR]
                               [--archives fp32,fp16,small-files] [--seed N] [--strict]
    python benchmarks/bench.py --rss-check [--keep DIR] [--json FILE]

The default run takes about a minute on two slow cores. For numbers on a bigger model,
where process start-up weighs less: ``--size 400 --archives fp32 --repeat 1``.

The default run generates three model archives, deterministically from ``--seed``, and
times these subjects side by side on each:

``cp``
    a plain copy of the archive (``cp``): the I/O cost with no validation at all.
``floor``
    the cheapest complete check of the gzip stream: ``pigz -t`` if pigz is on PATH, else
    a Python process inflating the file with zlib (which checks the gzip CRC-32 and
    ISIZE trailer, as ``pigz -t`` does). With pigz present the Python inflate is timed
    too, as an extra row.
``python start-up``
    ``python -m dummy_training --version``: interpreter start and package import, the
    fixed cost inside every dummy_training row (and the reason the targets also print
    their value without it).
``dummy_training auto, no tarfile cross-check``
    ``auto`` with the scan's second reading by ``tarfile`` (DIALECT.md) switched off, so
    that the difference between the two rows is the cost of that defence in depth.
``dummy_training auto`` / ``dummy_training repack``
    ``python -m dummy_training ... --strategy auto|repack -q`` (``auto`` splices the new
    member into the gzip stream; ``repack`` extracts and repacks at gzip level 6). When
    the CLI has no ``--strategy`` flag yet, one row runs it without the flag and says so.
``spec-literal``
    what the original script did: ``tarfile`` extract to a temporary directory, write
    hyperparameters.json, ``rglob`` the files and re-tar them with
    ``tarfile.open(out, "w:gz")`` (gzip level 9).
``GNU tar``
    ``tar -xzf`` then ``tar -czf`` (gzip level 6), skipped with a note without GNU tar.

Every timed run is its own process, forked by a small ``python -S`` launcher that times
it with ``time.perf_counter`` and takes its CPU time and peak RSS (of the process and
its descendants) from ``os.wait4``. The launcher is there because ru_maxrss includes the
memory a child had before exec: forked from this process it would count our own RSS, so
instead every row's RSS has a floor of the launcher's ~5 MiB. The first run of every
subject is checked (the output opens with ``tarfile`` and holds exactly the input's
files plus a ``hyperparameters.json`` with the expected bytes) before its time counts; a
wrong output aborts the benchmark. Repetitions go round-robin over the subjects, so slow
drift of the machine spreads over all of them, and the table shows medians.

The archives (``--size`` MiB uncompressed in all, default 60, split 60/20/20):

``fp32``
    a BERT-like checkpoint: ``model.safetensors`` with float32 N(0, 0.02) weights (two
    low mantissa bits dropped, so gzip saves ~10%, like real fp32 checkpoints),
    LayerNorm weights near 1, ``config.json``, ``tokenizer.json``, ``vocab.txt``,
    ``code/inference.py``. This is the "default archive" of the targets.
``fp16``
    the same model in float16 (gzip saves ~10%).
``small-files``
    ~100 1-20 KiB files per MiB (npy arrays, JSON and text) in 100-file directories.

Tensor data is stitched from 64 KiB slices taken at random offsets of a pool of 2**19
pre-encoded values: fast to produce, and since deflate only looks 32 KiB back the
compression ratio and speed are those of fresh random values. The archives are
byte-identical on every Python from 3.8 (given the same zlib).

Targets, printed after the tables: ``auto`` within 1.3x the floor on every archive, and
``auto`` at least 5x faster than ``spec-literal`` on the fp32 archive. ``--strict`` turns
a missed target into exit status 1.

``--rss-check`` instead generates float32 archives of 256 MiB and 2 GiB (uncompressed;
gzip level 1 to keep generation bearable) and checks that ``auto``'s peak RSS on the
large one is within 10% of that on the small one, i.e. that memory does not grow with the
archive. It takes about four minutes, two of them generating the 2 GiB archive;
``--keep DIR`` keeps the archives and reuses them next time.

Exit status: 0 done, 1 a target missed under ``--strict``, 2 a subject failed or wrote a
wrong archive, or the arguments are wrong. Unix only (``os.wait4``).
"""

from __future__ import annotations

import argparse
import array
import json
import math
import os
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 2  # bump when the generated bytes change, so --keep regenerates
MIB = 1 << 20
DEFAULT_SIZE_MIB = 60.0  # about a minute in all on 2 slow cores
DEFAULT_REPEAT = 3
DEFAULT_SEED = 1
LEVEL = 6  # `tar czf` uses gzip's default level
RSS_LEVEL = 1
RSS_SIZES_MIB = (256, 2048)
RSS_TOLERANCE = 0.10
TARGET_FLOOR_RATIO = 1.3
TARGET_SPEEDUP = 5.0
MTIME = 1_700_000_000
POOL_VALUES = 1 << 19
SLICE_BYTES = 64 << 10
# name: (description, share of --size, seed offset); fp32 is the targets' default archive
ARCHIVES = {
    "fp32": ("BERT-like float32 safetensors + tokenizer", 0.6, 0),
    "fp16": ("the same model in float16", 0.2, 1),
    "small-files": ("1-20 KiB npy/json/txt files", 0.2, 2),
}
HYPERPARAMETERS_NAME = "hyperparameters.json"
HYPERPARAMETERS = {
    "epochs": "3",
    "learning_rate": "5e-05",
    "per_device_train_batch_size": "32",
    "warmup_steps": "500",
    "model_name": "bench-bert",
    "sagemaker_program": "inference.py",
    "sagemaker_submit_directory": "/opt/ml/model/code",
    "sagemaker_region": "eu-west-1",
}


class BenchError(Exception):
    """A subject failed or produced a wrong archive: the numbers would mean nothing."""


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- generation


class TarGzWriter:
    """A minimal streaming tar.gz writer: GNU-format headers, gzip like ``tar czf``.

    zlib's own gzip wrapper writes mtime 0, no file name and OS 3, as ``gzip`` does
    when it reads a pipe, so equal input gives equal bytes.
    """

    def __init__(self, file: BinaryIO, level: int) -> None:
        self._file = file
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, 31)
        self.uncompressed = 0
        self.files: list[str] = []

    def _write(self, data: bytes) -> None:
        self.uncompressed += len(data)
        self._file.write(self._deflate.compress(data))

    def _header(self, name: str, kind: bytes, size: int, mode: int) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.mode, info.mtime = kind, size, mode, MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        block = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        assert len(block) == tarfile.BLOCKSIZE, f"{name}: name too long for one header"
        # Python < 3.10 fills devmajor/devminor of every member, later ones only of
        # devices: blank them (and redo the checksum) so all Pythons give equal bytes.
        block[329:345] = bytes(16)
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
        self._write(bytes(block))

    def add_dir(self, name: str) -> None:
        self._header(name.rstrip("/") + "/", tarfile.DIRTYPE, 0, 0o755)

    def add_file(self, name: str, size: int, chunks: Iterable[bytes]) -> None:
        self._header(name, tarfile.REGTYPE, size, 0o644)
        written = 0
        for chunk in chunks:
            self._write(chunk)
            written += len(chunk)
        if written != size:
            raise AssertionError(f"{name}: generated {written} bytes, declared {size}")
        self._write(b"\0" * (-size % tarfile.BLOCKSIZE))
        self.files.append(name)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add_file(name, len(data), [data])

    def close(self) -> None:
        end = 2 * tarfile.BLOCKSIZE
        self._write(b"\0" * (end + (-(self.uncompressed + end) % tarfile.RECORDSIZE)))
        self._file.write(self._deflate.flush())


class Pools:
    """Pre-encoded random values; tensors are stitched from random slices of these."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        normal = [rng.gauss(0.0, 1.0) for _ in range(POOL_VALUES)]
        self.fp32 = {
            "weight": _fp32([0.02 * z for z in normal]),
            "norm": _fp32([1.0 + 0.05 * z for z in normal]),
        }
        self.fp16 = {
            "weight": _fp16([0.02 * z for z in normal]),
            "norm": _fp16([1.0 + 0.05 * z for z in normal]),
        }

    def stream(self, dtype: str, kind: str, size: int) -> Iterator[bytes]:
        """``size`` bytes of ``dtype`` values of ``kind``, in slices from random offsets."""
        pool = (self.fp32 if dtype == "F32" else self.fp16)[kind]
        item = 4 if dtype == "F32" else 2
        remaining = size
        while remaining:
            n = min(remaining, SLICE_BYTES)
            start = self.rng.randrange(0, (len(pool) - n) // item + 1) * item
            yield pool[start : start + n]
            remaining -= n


def _fp32(values: list[float]) -> bytes:
    words = array.array("I", array.array("f", values).tobytes())
    assert words.itemsize == 4
    # Dropping two mantissa bits brings gzip's saving from ~7% to ~9%, as real
    # fp32 checkpoints (whose values are far from uniformly random) show.
    words = array.array("I", (w & 0xFFFFFFFC for w in words))
    if sys.byteorder == "big":
        words.byteswap()
    return words.tobytes()


def _fp16(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}e", *values)


_ONSETS = [*"bcdfghjklmnprstvwz", "br", "ch", "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea", "ou", "io"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "rt", "ck"]


def make_vocab(rng: random.Random, size: int) -> list[str]:
    """A WordPiece-like vocabulary: specials, unused slots, characters, words, ##pieces."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]"]
    vocab += ["[MASK]"] + [chr(c) for c in range(33, 127)]
    seen = set(vocab)
    while len(vocab) < size:
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.choice((1, 1, 2, 2, 3)))
        )
        word += rng.choice(_CODAS)
        if rng.random() < 0.25:
            word = "##" + word[: rng.randint(2, 5)]
        if word not in seen:
            seen.add(word)
            vocab.append(word)
    return vocab[:size]


def make_corpus(rng: random.Random, vocab: list[str], nbytes: int) -> str:
    """Zipf-weighted text from the vocabulary's whole words, in lines."""
    words = [w for w in vocab if w.isalpha() and len(w) > 1]
    weights = [1.0 / (rank + 10) for rank in range(len(words))]
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    lines = []
    size = 0
    while size < nbytes:
        line = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(6, 24))) + "."
        lines.append(line.capitalize())
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def bert_tensors(param_budget: int) -> tuple[dict[str, int], list[tuple[str, list[int], str]]]:
    """A BERT-shaped tensor list of about ``param_budget`` parameters, and its config."""
    hidden = 1024 if param_budget >= 300e6 else 768 if param_budget >= 100e6 else 384
    if param_budget < 4e6:
        hidden = 128
    inter = 4 * hidden
    vocab = min(30522, max(1000, param_budget // (2 * hidden)))
    per_layer = 4 * hidden * hidden + 2 * hidden * inter + 9 * hidden + inter
    other = (512 + 2) * hidden + hidden * hidden + 3 * hidden
    layers = max(1, (param_budget - other - vocab * hidden) // per_layer)
    if vocab < 30522:  # a small model: the vocabulary takes up what the layers leave
        rest = (param_budget - other - layers * per_layer) // hidden
        vocab = min(30522, max(vocab, rest))
    tensors: list[tuple[str, list[int], str]] = [
        ("embeddings.word_embeddings.weight", [vocab, hidden], "weight"),
        ("embeddings.position_embeddings.weight", [512, hidden], "weight"),
        ("embeddings.token_type_embeddings.weight", [2, hidden], "weight"),
        ("embeddings.LayerNorm.weight", [hidden], "norm"),
        ("embeddings.LayerNorm.bias", [hidden], "weight"),
    ]
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            tensors.append((f"{p}attention.self.{part}.weight", [hidden, hidden], "weight"))
            tensors.append((f"{p}attention.self.{part}.bias", [hidden], "weight"))
        tensors += [
            (f"{p}attention.output.dense.weight", [hidden, hidden], "weight"),
            (f"{p}attention.output.dense.bias", [hidden], "weight"),
            (f"{p}attention.output.LayerNorm.weight", [hidden], "norm"),
            (f"{p}attention.output.LayerNorm.bias", [hidden], "weight"),
            (f"{p}intermediate.dense.weight", [inter, hidden], "weight"),
            (f"{p}intermediate.dense.bias", [inter], "weight"),
            (f"{p}output.dense.weight", [hidden, inter], "weight"),
            (f"{p}output.dense.bias", [hidden], "weight"),
            (f"{p}output.LayerNorm.weight", [hidden], "norm"),
            (f"{p}output.LayerNorm.bias", [hidden], "weight"),
        ]
    tensors += [
        ("pooler.dense.weight", [hidden, hidden], "weight"),
        ("pooler.dense.bias", [hidden], "weight"),
    ]
    config = {
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": hidden // 64,
        "vocab_size": vocab,
    }
    return config, tensors


def add_safetensors(
    tar: TarGzWriter, pools: Pools, name: str, dtype: str, tensors: list[tuple[str, list[int], str]]
) -> None:
    item = 4 if dtype == "F32" else 2
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for tensor, shape, _ in tensors:
        size = math.prod(shape) * item
        header[tensor] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    prefix = struct.pack("<Q", len(text)) + text

    def chunks() -> Iterator[bytes]:
        yield prefix
        for _, shape, kind in tensors:
            yield from pools.stream(dtype, kind, math.prod(shape) * item)

    tar.add_file(name, len(prefix) + offset, chunks())


def add_model_files(
    tar: TarGzWriter, rng: random.Random, config: dict[str, int], dtype: str
) -> None:
    vocab = make_vocab(rng, config["vocab_size"])
    full_config = {
        "_name_or_path": "bench-bert",
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "pad_token_id": 0,
        "torch_dtype": "float32" if dtype == "F32" else "float16",
        "transformers_version": "4.40.0",
        "type_vocab_size": 2,
        **config,
    }
    tar.add_bytes("config.json", json.dumps(full_config, indent=2, sort_keys=True).encode())
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": vocab.index(t),
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for t in specials
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {word: i for i, word in enumerate(vocab)},
        },
    }
    tar.add_bytes("tokenizer.json", json.dumps(tokenizer, indent=2, ensure_ascii=False).encode())
    tar.add_bytes(
        "tokenizer_config.json",
        json.dumps({"do_lower_case": True, "model_max_length": 512}, indent=2).encode(),
    )
    tar.add_bytes(
        "special_tokens_map.json",
        json.dumps({t.strip("[]").lower() + "_token": t for t in specials}, indent=2).encode(),
    )
    tar.add_bytes("vocab.txt", ("\n".join(vocab) + "\n").encode())
    tar.add_dir("code")
    tar.add_bytes(
        "code/inference.py",
        b"import json\n\n\ndef model_fn(model_dir):\n    return model_dir\n\n\n"
        b"def predict_fn(data, model):\n    return json.dumps(data)\n",
    )
    tar.add_bytes("code/requirements.txt", b"transformers==4.40.0\nsafetensors\n")


def gen_model(tar: TarGzWriter, seed: int, nbytes: int, dtype: str) -> None:
    """A Hugging Face style model directory of ~``nbytes``, weights in ``dtype``."""
    rng = random.Random(seed)
    pools = Pools(rng)
    item = 4 if dtype == "F32" else 2
    config, tensors = bert_tensors(max(1, nbytes - min(2 * MIB, nbytes // 20)) // item)
    add_model_files(tar, rng, config, dtype)
    add_safetensors(tar, pools, "model.safetensors", dtype, tensors)


def gen_small_files(tar: TarGzWriter, seed: int, nbytes: int) -> None:
    """~``nbytes`` of 1-20 KiB files: 60% npy float32 arrays, 20% JSON, 20% text."""
    rng = random.Random(seed)
    pools = Pools(rng)
    corpus = make_corpus(rng, make_vocab(rng, 30522), 2 * MIB)
    tar.add_bytes("config.json", json.dumps({"model_type": "feature-store", "version": 3}).encode())
    tar.add_dir("assets")
    i = 0
    while tar.uncompressed < nbytes:
        if i % 100 == 0:
            tar.add_dir(f"assets/{i // 100:03d}")
        size = rng.randint(1 << 10, 20 << 10)
        name = f"assets/{i // 100:03d}/item_{i:05d}"
        kind = rng.random()
        if kind < 0.6:
            values = (size - 128) // 4
            npy = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({values},), }}"
            npy = npy.ljust(117) + "\n"
            head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy)) + npy.encode()
            tar.add_file(
                name + ".npy",
                len(head) + 4 * values,
                [head, *pools.stream("F32", "weight", 4 * values)],
            )
        else:
            start = rng.randrange(0, len(corpus) - size)
            text = corpus[start : start + size]
            if kind < 0.8:
                data = json.dumps({"id": i, "label": rng.randint(0, 9), "text": text}).encode()
                tar.add_bytes(name + ".json", data)
            else:
                tar.add_bytes(name + ".txt", text.encode())
        i += 1


@dataclass
class Archive:
    """One generated input archive and what a correct output must contain."""

    name: str
    description: str
    path: Path
    files: list[str]
    uncompressed: int
    compressed: int


def generate(
    directory: Path, name: str, description: str, seed: int, nbytes: int, level: int
) -> Archive:
    """Make (or, under --keep, reuse) the archive ``name`` of ~``nbytes`` uncompressed."""
    path = directory / f"{name}.tar.gz"
    stamp_path = directory / f"{name}.params.json"
    params = {"generator": GENERATOR_VERSION, "seed": seed, "bytes": nbytes, "level": level}
    if path.exists() and stamp_path.exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp["params"] == params and stamp["compressed"] == path.stat().st_size:
            log(f"reusing {path}")
            return Archive(
                name, description, path, stamp["files"], stamp["uncompressed"], stamp["compressed"]
            )
    started = time.perf_counter()
    with open(path, "wb") as f:
        tar = TarGzWriter(f, level)
        if name == "small-files":
            gen_small_files(tar, seed, nbytes)
        else:
            gen_model(tar, seed, nbytes, "F16" if name == "fp16" else "F32")
        tar.close()
    archive = Archive(name, description, path, tar.files, tar.uncompressed, path.stat().st_size)
    stamp_path.write_text(
        json.dumps(
            {
                "params": params,
                "files": tar.files,
                "uncompressed": tar.uncompressed,
                "compressed": archive.compressed,
            }
        )
    )
    log(
        f"generated {path.name}: {len(tar.files)} files, {tar.uncompressed / MIB:.1f} MiB "
        f"-> {archive.compressed / MIB:.1f} MiB in {time.perf_counter() - started:.1f} s"
    )
    return archive


# --------------------------------------------------------------------------- subjects


@dataclass
class Run:
    """One timed process."""

    seconds: float
    user: float
    system: float
    maxrss_kib: int


@dataclass
class Subject:
    """One way of doing (part of) the job; ``argv`` builds the command for an archive."""

    name: str
    argv: Callable[[Archive, Path, Path], list[str]]  # (archive, out_dir, work_dir)
    check: str  # "copy", "none" or "output"
    note: str = ""
    runs: dict[str, list[Run]] = field(default_factory=dict)


# The launcher forks and execs the subject and reports its rusage. It exists because
# ru_maxrss counts the memory a child had before exec: a child forked (or vforked) from
# this process would start from our own RSS, tens of MiB after generating. Forked from a
# bare ``python -S`` instead, a subject's floor is the launcher's ~5 MiB. Timing in the
# launcher leaves its own start-up out of the wall time.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as exc:
        sys.stderr.write("%s: %s\\n" % (sys.argv[2], exc))
        sys.stderr.flush()
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
with open(sys.argv[1], "w") as f:
    f.write("%d %r %r %r %d" % (code, seconds, usage.ru_utime, usage.ru_stime, usage.ru_maxrss))
"""


def run_timed(argv: Sequence[str], env: dict[str, str], log_dir: Path) -> Run:
    """Run ``argv`` to completion; its wall time, CPU time and peak RSS (with children)."""
    out_path, err_path, result_path = (log_dir / n for n in ("stdout", "stderr", "rusage"))
    launcher = [sys.executable, "-S", "-E", "-c", LAUNCHER, str(result_path), *argv]
    if result_path.exists():
        result_path.unlink()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        returncode = subprocess.run(
            launcher, stdout=out, stderr=err, env=env, check=False
        ).returncode
    try:
        fields = result_path.read_text().split()
    except OSError:
        fields = []
    if returncode != 0 or len(fields) != 5 or fields[0] != "0":
        tail = err_path.read_text(errors="replace")[-2000:]
        what = f"exit status {fields[0]}" if returncode == 0 else f"launcher exit {returncode}"
        raise BenchError(f"{what} from {' '.join(argv)}\n{tail}")
    rss = int(fields[4])
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        rss //= 1024
    return Run(float(fields[1]), float(fields[2]), float(fields[3]), rss)


def _normal(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def verify(subject: Subject, archive: Archive, out_dir: Path, hp: bytes) -> None:
    """Fail unless the subject's output is right: a copy, or input files + hyperparameters."""
    if subject.check == "none":
        return
    out = out_dir / "model.tar.gz"
    if not out.is_file():
        raise BenchError(f"{subject.name}: wrote no {out}")
    if subject.check == "copy":
        with open(archive.path, "rb") as a, open(out, "rb") as b:
            while True:
                x, y = a.read(MIB), b.read(MIB)
                if x != y:
                    raise BenchError(f"{subject.name}: {out} differs from {archive.path}")
                if not x:
                    return
    found: bytes | None = None
    names = []
    try:
        with tarfile.open(out, "r:gz") as tar:
            for member in tar:
                name = _normal(member.name)
                if member.isfile():
                    names.append(name)
                if name == HYPERPARAMETERS_NAME:
                    stream = tar.extractfile(member)
                    found = stream.read() if stream else None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BenchError(f"{subject.name}: {out} does not read as tar.gz: {exc}") from exc
    if found != hp:
        raise BenchError(f"{subject.name}: {out} has no {HYPERPARAMETERS_NAME} with our bytes")
    expected = sorted([*archive.files, HYPERPARAMETERS_NAME])
    if sorted(names) != expected:
        missing = sorted(set(expected) - set(names))[:5]
        extra = sorted(set(names) - set(expected))[:5]
        raise BenchError(
            f"{subject.name}: {out} has the wrong files; missing {missing}, extra {extra}"
        )


def strategy_support(env: dict[str, str]) -> tuple[bool, bool]:
    """Whether ``python -m dummy_training`` has ``--strategy`` and ``--message-file``."""
    result = subprocess.run(
        [sys.executable, "-m", "dummy_training", "--help"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    text = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        raise BenchError(f"python -m dummy_training --help failed:\n{text}")
    return "--strategy" in text, "--message-file" in text


def gnu_tar() -> str | None:
    """The path of GNU tar (``tar`` or ``gtar``), or None."""
    for name in ("tar", "gtar"):
        path = shutil.which(name)
        if path:
            result = subprocess.run([path, "--version"], stdout=subprocess.PIPE, check=False)
            if b"GNU tar" in result.stdout:
                return path
    return None


def tool_version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    except OSError:
        return "missing"
    return result.stdout.decode(errors="replace").strip().splitlines()[0]


def subjects(env: dict[str, str], hp_path: Path) -> tuple[list[Subject], dict[str, Any]]:
    """The subjects this machine can run, and notes on what was chosen or skipped."""
    this = str(Path(__file__).resolve())
    py = sys.executable
    has_strategy, has_message_file = strategy_support(env)
    notes: dict[str, Any] = {"strategy_flag": has_strategy}
    result: list[Subject] = []

    cp = shutil.which("cp")
    if cp:
        result.append(
            Subject("cp", lambda a, o, w: [cp, str(a.path), str(o / "model.tar.gz")], "copy")
        )
    else:
        copy = "import shutil,sys; shutil.copyfile(sys.argv[1], sys.argv[2])"
        result.append(
            Subject(
                "cp (python)",
                lambda a, o, w: [py, "-c", copy, str(a.path), str(o / "model.tar.gz")],
                "copy",
            )
        )

    pigz = shutil.which("pigz")
    inflate = Subject(
        "zlib inflate (python)", lambda a, o, w: [py, this, "_inflate", str(a.path)], "none"
    )
    if pigz:
        result.append(Subject("floor: pigz -t", lambda a, o, w: [pigz, "-t", str(a.path)], "none"))
        result.append(inflate)
        notes["floor"] = "pigz -t"
    else:
        inflate.name = "floor: zlib inflate (python)"
        result.append(inflate)
        notes["floor"] = "zlib inflate (python); pigz not on PATH"

    result.append(
        Subject(
            "python start-up (dummy_training --version)",
            lambda a, o, w: [py, "-m", "dummy_training", "--version"],
            "none",
            note="interpreter and package import only: the fixed cost in every dummy_training row",
        )
    )

    def dummy(strategy: str | None) -> Callable[[Archive, Path, Path], list[str]]:
        def argv(a: Archive, o: Path, w: Path) -> list[str]:
            cmd = [
                py,
                "-m",
                "dummy_training",
                "--model",
                str(a.path),
                "--hyperparameters",
                str(hp_path),
                "--output-dir",
                str(o),
                "--work-dir",
                str(w),
                "-q",
            ]
            if has_message_file:
                cmd += ["--message-file", str(w / "message")]
            if strategy:
                cmd += ["--strategy", strategy]
            return cmd

        return argv

    if has_strategy:
        result.append(Subject("dummy_training auto", dummy("auto"), "output"))
        unchecked = dummy("auto")
        result.append(
            Subject(
                "dummy_training auto, no tarfile cross-check",
                lambda a, o, w: [py, this, "_no_crosscheck", *unchecked(a, o, w)[3:]],
                "output",
                note="auto with the scan's tarfile cross-check switched off: the "
                "difference to the auto row is that check's cost",
            )
        )
        result.append(Subject("dummy_training repack", dummy("repack"), "output"))
    else:
        result.append(
            Subject(
                "dummy_training (no --strategy flag)",
                dummy(None),
                "output",
                note="the CLI has no --strategy yet: its built-in behaviour, "
                "standing in for auto in the targets",
            )
        )

    result.append(
        Subject(
            "spec-literal (tarfile, level 9)",
            lambda a, o, w: [py, this, "_spec_literal", str(a.path), str(hp_path), str(o), str(w)],
            "output",
        )
    )

    tar = gnu_tar()
    if tar:
        script = (
            'set -e; mkdir -p "$2"; "$5" -xzf "$1" -C "$2"; '
            'cp "$3" "$2/hyperparameters.json"; "$5" -czf "$4" -C "$2" .'
        )
        result.append(
            Subject(
                "GNU tar -xzf + -czf",
                lambda a, o, w: [
                    "sh",
                    "-c",
                    script,
                    "sh",
                    str(a.path),
                    str(w / "tree"),
                    str(hp_path),
                    str(o / "model.tar.gz"),
                    tar,
                ],
                "output",
            )
        )
    else:
        notes["gnu_tar"] = "skipped: GNU tar not found"
    return result, notes


def auto_subject(subjects_: list[Subject]) -> Subject:
    return next(
        s for s in subjects_ if s.name.startswith("dummy_training") and "repack" not in s.name
    )


def floor_subject(subjects_: list[Subject]) -> Subject:
    return next(s for s in subjects_ if s.name.startswith("floor"))


def measure(
    archives: list[Archive],
    subjects_: list[Subject],
    repeat: int,
    env: dict[str, str],
    scratch: Path,
    hp: bytes,
) -> None:
    """Time every subject on every archive ``repeat`` times, round-robin; verify run 1."""
    for archive in archives:
        for rep in range(repeat):
            for index, subject in enumerate(subjects_):
                base = scratch / f"run-{index}"
                out_dir, work_dir = base / "out", base / "work"
                shutil.rmtree(base, ignore_errors=True)
                out_dir.mkdir(parents=True)
                work_dir.mkdir()
                run = run_timed(subject.argv(archive, out_dir, work_dir), env, base)
                if rep == 0:
                    verify(subject, archive, out_dir, hp)
                subject.runs.setdefault(archive.name, []).append(run)
                shutil.rmtree(base)
                log(
                    f"[{archive.name}] {subject.name} {rep + 1}/{repeat}: "
                    f"{run.seconds:.2f} s, {run.maxrss_kib / 1024:.0f} MiB"
                )


def median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def report(archives: list[Archive], subjects_: list[Subject]) -> str:
    """The Markdown tables: one per archive."""
    floor = floor_subject(subjects_)
    lines: list[str] = []
    for archive in archives:
        floor_s = median(floor.runs[archive.name])
        lines += [
            f"### {archive.name}: {archive.description}",
            "",
            f"{len(archive.files)} files, {archive.uncompressed / MIB:.1f} MiB uncompressed, "
            f"{archive.compressed / MIB:.1f} MiB compressed "
            f"({100 * (1 - archive.compressed / archive.uncompressed):.1f}% saved)",
            "",
            "| subject | median s | min s | x floor | input MiB/s | CPU s | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for subject in subjects_:
            runs = subject.runs[archive.name]
            m = median(runs)
            cpu = statistics.median(r.user + r.system for r in runs)
            rss = max(r.maxrss_kib for r in runs) / 1024
            lines.append(
                f"| {subject.name} | {m:.3f} | {min(r.seconds for r in runs):.3f} | "
                f"{m / floor_s:.2f} | {archive.compressed / MIB / m:.0f} | {cpu:.2f} | {rss:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def targets(archives: list[Archive], subjects_: list[Subject]) -> list[dict[str, Any]]:
    """Each target: what was measured and whether it was met."""
    auto, floor = auto_subject(subjects_), floor_subject(subjects_)
    spec = next(s for s in subjects_ if s.name.startswith("spec-literal"))
    startup = next(s for s in subjects_ if s.name.startswith("python start-up"))
    result: list[dict[str, Any]] = []
    for archive in archives:
        auto_s, floor_s = median(auto.runs[archive.name]), median(floor.runs[archive.name])
        ratio = auto_s / floor_s
        result.append(
            {
                "target": f"{auto.name} <= {TARGET_FLOOR_RATIO}x {floor.name} on {archive.name}",
                "value": round(ratio, 3),
                "met": ratio <= TARGET_FLOOR_RATIO,
                "info": "without python start-up: "
                f"{(auto_s - median(startup.runs[archive.name])) / floor_s:.3f}",
            }
        )
    if archives[0].name != "fp32":
        return result
    speedup = median(spec.runs["fp32"]) / median(auto.runs["fp32"])
    result.append(
        {
            "target": f"{auto.name} >= {TARGET_SPEEDUP}x faster than {spec.name} on fp32",
            "value": round(speedup, 2),
            "met": speedup >= TARGET_SPEEDUP,
        }
    )
    return result


# --------------------------------------------------------------------------- helper subjects


def _inflate(path: str) -> int:
    """The Python floor: inflate every gzip member; zlib checks each CRC-32 and ISIZE."""
    total = members = 0
    pending = False  # inside a gzip member that has not ended yet
    with open(path, "rb") as f:
        d = zlib.decompressobj(31)
        while True:
            data = f.read(MIB)
            if not data:
                break
            while data:
                pending = True
                total += len(d.decompress(data))
                data = b""
                if d.eof:
                    members += 1
                    pending = False
                    data = d.unused_data
                    d = zlib.decompressobj(31)
    if pending or not members:
        print(f"{path}: truncated gzip stream", file=sys.stderr)
        return 1
    print(total)
    return 0


def _no_crosscheck(argv: Sequence[str]) -> int:
    """``dummy_training`` with the scan's tarfile cross-check replaced by a no-op."""
    from dummy_training import main as dummy_main

    class _Off:
        def __init__(self, path: str) -> None:
            del path

        def member(self, *args: object) -> None:
            del args

        def end(self, *args: object) -> None:
            del args

    # The package's `scan` attribute is the function; the module is in sys.modules.
    sys.modules["dummy_training.scan"].TarfileWitness = _Off  # type: ignore[attr-defined]
    return dummy_main(list(argv))


def _spec_literal(model: str, hyperparameters: str, output_dir: str, work_dir: str) -> int:
    """What the original script did, step by step (Python's tarfile, gzip level 9)."""
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        root = Path(tmp)
        with tarfile.open(model, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, filter="data")
            else:  # pragma: no cover - Pythons without PEP 706
                tar.extractall(root)
        shutil.copyfile(hyperparameters, root / HYPERPARAMETERS_NAME)
        with tarfile.open(Path(output_dir) / "model.tar.gz", "w:gz") as out:
            for path in root.rglob("*"):
                if path.is_file():
                    out.add(path, arcname=str(path.relative_to(root)))
    return 0


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Time dummy_training against cp, pigz -t, the original script and GNU tar.",
    )
    parser.add_argument(
        "--size",
        type=float,
        default=DEFAULT_SIZE_MIB,
        metavar="MIB",
        help="uncompressed MiB of all three archives together "
        f"(default {DEFAULT_SIZE_MIB:g}; split 60/20/20)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        metavar="N",
        help=f"timed runs per subject and archive (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--archives",
        type=lambda text: text.split(","),
        default=list(ARCHIVES),
        metavar="A,B",
        help=f"which archives to run (default {','.join(ARCHIVES)})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all raw timings here")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="generate archives into DIR, keep them and reuse them next time",
    )
    parser.add_argument(
        "--rss-check",
        action="store_true",
        help="check auto's peak RSS on 256 MiB vs 2 GiB archives instead",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ns = parser.parse_args(argv)
    if ns.size <= 0 or ns.repeat < 1:
        parser.error("--size must be positive and --repeat at least 1")
    unknown = [name for name in ns.archives if name not in ARCHIVES]
    if unknown or not ns.archives:
        parser.error(f"--archives takes names from {', '.join(ARCHIVES)}")
    ns.archives = [name for name in ARCHIVES if name in ns.archives]
    return ns


def environment(notes: dict[str, Any]) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pigz": tool_version(["pigz", "--version"]) if shutil.which("pigz") else "missing",
        "tar": tool_version(["tar", "--version"]) if shutil.which("tar") else "missing",
        **notes,
    }


def run_benchmark(ns: argparse.Namespace, scratch: Path, data_dir: Path) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    hp = (json.dumps(HYPERPARAMETERS, indent=2) + "\n").encode()
    hp_path = scratch / "hyperparameters.json"
    hp_path.write_bytes(hp)
    subjects_, notes = subjects(env, hp_path)
    meta = environment(notes)
    log("environment: " + json.dumps(meta))

    started = time.perf_counter()
    if ns.rss_check:
        return rss_check(ns, subjects_, env, scratch, data_dir, hp, meta)
    archives = []
    for name in ns.archives:
        description, share, seed_offset = ARCHIVES[name]
        nbytes = int(ns.size * MIB * share)
        archives.append(generate(data_dir, name, description, ns.seed + seed_offset, nbytes, LEVEL))
    generated = time.perf_counter()
    measure(archives, subjects_, ns.repeat, env, scratch, hp)
    finished = time.perf_counter()

    table = report(archives, subjects_)
    results = targets(archives, subjects_)
    print(f"## dummy_training benchmark (median of {ns.repeat}; floor = {meta['floor']})\n")
    print(table)
    for subject in subjects_:
        if subject.note:
            print(f"note: {subject.name}: {subject.note}")
    if "gnu_tar" in notes:
        print(f"note: GNU tar: {notes['gnu_tar']}")
    print("\n### targets\n")
    for t in results:
        info = f" ({t['info']})" if "info" in t else ""
        print(f"- [{'x' if t['met'] else ' '}] {t['target']}: {t['value']}{info}")
    print(f"\ngeneration {generated - started:.1f} s, measurement {finished - generated:.1f} s")
    if ns.json:
        dump = {
            "environment": meta,
            "repeat": ns.repeat,
            "size_mib": ns.size,
            "seed": ns.seed,
            "generation_seconds": generated - started,
            "measurement_seconds": finished - generated,
            "archives": [
                {
                    "name": a.name,
                    "description": a.description,
                    "files": len(a.files),
                    "uncompressed_bytes": a.uncompressed,
                    "compressed_bytes": a.compressed,
                }
                for a in archives
            ],
            "subjects": [
                {
                    "name": s.name,
                    "note": s.note,
                    "runs": {k: [vars(r) for r in v] for k, v in s.runs.items()},
                    "median_seconds": {k: median(v) for k, v in s.runs.items()},
                }
                for s in subjects_
            ],
            "targets": results,
        }
        ns.json.write_text(json.dumps(dump, indent=2) + "\n")
        log(f"wrote {ns.json}")
    return 1 if ns.strict and not all(t["met"] for t in results) else 0


def rss_check(
    ns: argparse.Namespace,
    subjects_: list[Subject],
    env: dict[str, str],
    scratch: Path,
    data_dir: Path,
    hp: bytes,
    meta: dict[str, Any],
) -> int:
    auto = auto_subject(subjects_)
    archives = [
        generate(
            data_dir,
            f"fp32-{mib}MiB",
            f"float32, {mib} MiB, gzip level {RSS_LEVEL}",
            ns.seed,
            mib * MIB,
            RSS_LEVEL,
        )
        for mib in RSS_SIZES_MIB
    ]
    measure(archives, [auto], ns.repeat, env, scratch, hp)
    peaks = [max(r.maxrss_kib for r in auto.runs[a.name]) / 1024 for a in archives]
    growth = peaks[1] / peaks[0] - 1
    met = growth <= RSS_TOLERANCE
    print(f"## peak RSS of {auto.name} (max of {ns.repeat} runs)\n")
    print("| archive | uncompressed MiB | compressed MiB | median s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for archive, peak in zip(archives, peaks):
        print(
            f"| {archive.name} | {archive.uncompressed / MIB:.0f} | "
            f"{archive.compressed / MIB:.0f} | {median(auto.runs[archive.name]):.2f} | {peak:.1f} |"
        )
    print(
        f"\n- [{'x' if met else ' '}] peak RSS grows {100 * growth:+.1f}% "
        f"(target: within {100 * RSS_TOLERANCE:.0f}%)"
    )
    if ns.json:
        dump = {
            "environment": meta,
            "archives": [
                {
                    "name": a.name,
                    "uncompressed_bytes": a.uncompressed,
                    "compressed_bytes": a.compressed,
                }
                for a in archives
            ],
            "runs": {k: [vars(r) for r in v] for k, v in auto.runs.items()},
            "peak_rss_mib": peaks,
            "growth": growth,
            "met": met,
        }
        ns.json.write_text(json.dumps(dump, indent=2) + "\n")
    return 1 if ns.strict and not met else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with a leading ``_inflate``/``_spec_literal``, one helper)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_inflate"]:
        return _inflate(*args[1:2])
    if args[:1] == ["_spec_literal"]:
        return _spec_literal(*args[1:5])
    if args[:1] == ["_no_crosscheck"]:
        return _no_crosscheck(args[1:])
    ns = parse_args(args)
    if not hasattr(os, "wait4"):
        print("bench.py needs os.wait4 (Unix)", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="dummy-training-bench-") as tmp:
            scratch = Path(tmp)
            data_dir = ns.keep if ns.keep else scratch / "archives"
            data_dir.mkdir(parents=True, exist_ok=True)
            return run_benchmark(ns, scratch, data_dir)
    except BenchError as exc:
        print(f"bench.py: FAILED: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
