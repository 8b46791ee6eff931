"""Benchmark harness for dummy_training: how close does adding hyperparameters.json get to I/O?

Run from a clone, with no install (stdlib only; ``tox -e bench`` does the same)::

    python -m benchmarks.bench [--size MIB] [--weights-size MB] [--repeat N] [--json FILE]
                               [--keep DIR] [--archives fp32,fp16,small-files,fp32-weights]
                               [--seed N] [--strict] [--full | --rss-check]

(``python benchmarks/bench.py ...`` still works: a shim that calls this package.)

The modules: ``builders`` generates the archives, ``subjects`` says what is timed and
checks each output, ``helpers`` holds the subjects that are Python code (run as a script,
so the timed process imports nothing of the harness), ``timing`` runs the interleaved
rounds, ``report`` makes the tables and the targets, ``__main__`` is the command line.

The default run generates four model archives, deterministically from ``--seed``, and
times these subjects side by side on each:

``cp``
    a plain copy of the archive: the I/O cost with no validation at all.
``floor``
    the cheapest complete check of the gzip stream: ``pigz -t`` if pigz is on PATH, else
    a Python process inflating the file with zlib (which checks the gzip CRC-32 and
    ISIZE trailer, as ``pigz -t`` does). With pigz present the Python inflate is timed
    too, as an extra row.
``Python start-up and import alone``
    ``python -m dummy_training --version``: interpreter start and package import, the
    fixed cost inside every dummy_training row (and the reason the targets also print
    their value without it).
``dummy_training auto`` / ``dummy_training repack``
    ``python -m dummy_training ... --strategy auto|repack -q`` (``auto`` splices the new
    member into the gzip stream; ``repack`` extracts and repacks at gzip level 6). When
    the CLI has no ``--strategy`` flag yet, one row runs it without the flag and says so.
``dummy_training auto, no tarfile cross-check``
    ``auto`` with the scan's second reading by ``tarfile`` (DIALECT.md) switched off, so
    that the difference between the two rows is the cost of that defence in depth.
``dummy_training fallback copy``
    ``dummy_training`` with no hyperparameters file: it validates the archive, then
    copies it unchanged (checked byte for byte).
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
files plus a ``hyperparameters.json`` with the expected bytes, or is a byte-identical
copy) before its time counts; a wrong output aborts the benchmark. The ``--repeat`` runs
go round-robin over the subjects, so that slow drift of a shared machine spreads over
all of them, and the tables show each subject's best run (the JSON keeps every run and
the median). Only exit statuses, output files and the help text of the CLI are read:
never dummy_training's log lines.

The archives (tar bytes; ``--size`` MiB split 60/20/20 over the first three):

``fp32``
    a BERT-like checkpoint: ``model.safetensors`` with float32 N(0, 0.02) weights (two
    low mantissa bits dropped: gzip -6 keeps ~90%), LayerNorm weights near 1,
    ``config.json``, ``tokenizer.json``, ``vocab.txt``, ``code/inference.py``. This is
    the "default archive" of the README.
``fp16``
    the same model in float16 (gzip keeps ~90%).
``small-files``
    ~100 1-20 KiB files per MiB (npy arrays, JSON and text) in 100-file directories.
``fp32-weights``
    ``--weights-size`` MB (default 180; 177 MB come out): the same layout, the float32
    values with random mantissa bytes and low-entropy sign/exponent bytes (gzip -6 keeps
    ~88%). The only class large enough for the floor targets by default.

Tensor data is stitched from 64 KiB slices taken at random offsets of a pool of 2**19
pre-encoded values: fast to produce, and since deflate only looks 32 KiB back the
compression ratio and speed are those of fresh random values. The archives are
byte-identical on every Python from 3.8 (given the same zlib).

Targets, printed as one table after the class tables (``--strict`` turns a missed one
into exit status 1):

- ``auto`` and the fallback copy within 1.25x the floor on every class of at least
  150 MB of tar (smaller ones are shown, not judged: Python's start-up dominates them);
- ``auto`` at least 5x faster than ``spec-literal`` on fp32 and on every class of at
  least 150 MB;
- ``auto``'s peak RSS within +-5% between a 256 MiB and a 2 GiB float32 archive (gzip
  level 1): ``--rss-check`` runs only this one (about five minutes, two of them
  generating the 2 GiB archive), ``--full`` runs it after the classes, so that every
  target is checked in one run. ``--keep DIR`` keeps the archives and reuses them.

A default run takes five to ten minutes on two slow cores, mostly the three repacking
subjects on the 177 MB class (``--full`` adds about four). For a quick look:
``--size 20 --repeat 3``, or ``--archives fp32,fp16,small-files`` without the large class.

Exit status: 0 done, 1 a target missed under ``--strict``, 2 a subject failed or wrote a
wrong archive, or the arguments are wrong. Unix only (``os.wait4``).
"""
