"""Saving and loading models: an .npz file holding a JSON `meta` entry (architecture, dtype, seeds,
optimizer configuration) and one array per parameter and optimizer state buffer. Never pickles.

save writes atomically (a temporary file beside the target, flushed and renamed over it), only regular
files (through symlinks, to the file they name), and never a file that load would refuse. load reads
every array's header before any array, so a crafted or damaged file is refused by shape and size
before anything large is allocated or decompressed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._constraints import check_dropout
from .losses import CLASSIFICATION_LOSSES, MEAN_FUNCTIONS
from .optim import from_config

if TYPE_CHECKING:
    import io
    import zipfile

    from .model import MLP

    _M = TypeVar("_M", bound=MLP)

__all__ = ["save", "load", "FORMAT_NAME", "FORMAT_VERSION"]

#: The format name a model file's meta entry holds ("fastmlp.MLP").
FORMAT_NAME = "fastmlp.MLP"
#: The version of the file format that save writes and load reads (1).
FORMAT_VERSION = 1

# What a version-1 file's meta entry holds, and the type each value must have.
META_KEYS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "sizes": list,
    "activations": list,
    "dtype": str,
    "negative_slope": (int, float),
    "seed": int,
    "init": (str, type(None)),
    "bias_init": (str, type(None)),
    "optimizer": (dict, type(None)),
}

# Entries added later in version 1: a file without them (written before) loads with None.
META_OPTIONAL_KEYS: dict[str, type | tuple[type, ...]] = {
    "feature_names": (list, type(None)),
    "target_names": (list, type(None)),
    "standardization": (dict, type(None)),
    "training": (dict, type(None)),
    "classification_loss": (str, type(None)),
    "link_loss": (str, type(None)),
    "preprocessing": (dict, type(None)),
    "dropout": (list, type(None)),  # each hidden layer's rate; a file without it has none
}
_TRAINING_LAST_KEYS: dict[str, type | tuple[type, ...]] = {
    "epochs": int,
    "samples": int,
    "batch_size": (int, type(None)),
    "loss": str,
    "optimizer": str,
    "final_loss": (int, float, type(None)),
    "final_val_loss": (int, float, type(None)),
    "stopped_reason": (str, type(None)),
}
_SCALING_KEYS = ("x_mean", "x_std", "y_mean", "y_std")

_MAX_STEP = 2**53  # the most optimizer steps a model file may record (exact in a double)
_TMP_PREFIX = ".fastmlp-"  # temporary files are .fastmlp-<target name>.<pid>.<random>.tmp
_TMP_NAME_CHARS = 100  # of the target's name, so that the temporary name stays short enough


# ---- save --------------------------------------------------------------------------------------------
def save(model: MLP, path: str | os.PathLike[str]) -> str:
    """Write a model to an .npz file, atomically (see the module text).

    Parameters
    ----------
    model : MLP
        The model: its architecture, weights, optimizer state, column names, standardization,
        preprocessing and training summary are written.
    path : str or os.PathLike
        The file to write; a symlink is written through.

    Returns
    -------
    str
        The path, as given.

    Raises
    ------
    ValueError
        If an array of the model holds NaN or Inf (load would refuse the file), or the path names
        something other than a regular file.
    IsADirectoryError
        If the path is a directory.
    OSError
        If the file cannot be written; the message names the path.

    See Also
    --------
    fastmlp.MLP.save : The method that calls it (and writes from rank 0 only after a data-parallel fit).

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmlp
    >>> from fastmlp import persist
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = persist.save(fastmlp.MLP([2, 3, 1]), os.path.join(folder, "model.npz"))
    ...     persist.load(path, fastmlp.MLP)
    MLP([2, 3, 1], activations=[relu,identity], dtype=float32, params=13)
    """
    user_path = os.fspath(path)
    arrays = _model_arrays(model)
    bad = _core.all_finite(list(arrays.values())[1:])
    if bad >= 0:
        name = list(arrays)[1 + bad]
        raise ValueError(
            f"cannot save the model to {user_path!r}: its array {name!r} holds NaN or Inf, and load "
            f"refuses such a file (fit restores finite weights after a divergence; fix or "
            f"reinitialize the model first)"
        )
    # numpy's stub lets **kwds fill savez's allow_pickle (bool); no entry is named so
    write_atomically(user_path, lambda f: np.savez(f, **arrays), "save the model to")  # type: ignore[arg-type]
    return user_path


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], what: str) -> None:
    """Writes a file as save writes a model: write(f) fills a temporary file (binary) beside the target,
    which is synced and then renamed over it, so that a full disk, a signal or an error midway leaves
    the previous file whole (and no half-written one). A symlink is written through; a directory or a
    file that is not regular (a device, a pipe) is refused. `what` completes "cannot ... 'path'" in the
    errors (e.g. "save the model to")."""
    user_path = os.fspath(path)
    target = os.path.realpath(user_path)  # a symlink is written through: the file it names is replaced
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _named(e, user_path, what) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot {what} {user_path!r}: it is a directory", user_path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"cannot {what} {user_path!r}: it is {_kind_of(st.st_mode)}, not a regular file "
            f"(the file at the path is replaced, which would destroy it)"
        )
    directory, name = os.path.split(target)
    _remove_stale_temporaries(directory, name)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f"{_TMP_PREFIX}{name[:_TMP_NAME_CHARS]}.{os.getpid()}.", suffix=".tmp", dir=directory
        )
    except OSError as e:
        why = (
            f"no new file can be made in {directory!r} ({e.strerror}); the file is written beside its "
            f"target first and renamed over it when complete"
        )
        raise _named(e, user_path, what, why) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            # mkstemp makes the file private (0600); give it the mode a plain open() would have.
            os.fchmod(f.fileno(), _new_file_mode(target))
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _named(e, user_path, what) from None
        raise


def _model_arrays(model: MLP) -> dict[str, NDArray[Any]]:
    opt = model._opt
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sizes": model.sizes,
        "activations": model.activations,
        "dtype": model.dtype.name,
        "negative_slope": model.negative_slope,
        "seed": model.seed,
        "init": model.init,
        "bias_init": model.bias_init,
        "optimizer": None if opt is None else {"config": opt["config"], "step": opt["step"], "names": opt["names"]},
        "feature_names": model._feature_names,
        "target_names": model._target_names,
        "training": model._training,
        "classification_loss": getattr(model, "classification_loss", None),
        "link_loss": getattr(model, "link_loss", None),  # predict's exp of the output (fastmlp.losses)
        "dropout": list(model.dropout),
        # the table's columns -> the network's inputs (fastmlp.tables.Preprocessor), as JSON
        "preprocessing": None if model.preprocessing is None else model.preprocessing.to_dict(),
        # float32/64 statistics as JSON numbers: repr round-trips them exactly
        "standardization": None
        if model._scaling is None
        else {k: None if v is None else v.astype(np.float64).tolist() for k, v in model._scaling.items()},
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"W{layer}"], arrays[f"b{layer}"] = w, b
        if opt is not None:
            for s, (ws, bs) in enumerate(zip(opt["w"][layer], opt["b"][layer])):
                arrays[f"opt_W{layer}_{s}"], arrays[f"opt_b{layer}_{s}"] = ws, bs
    return arrays


def _named(e: OSError, user_path: str, what: str = "save the model to", why: str | None = None) -> OSError:
    """The same kind of OSError, naming the user's path rather than a temporary or resolved one (and,
    given `why`, saying that instead of the system's reason)."""
    if e.errno is None:
        return OSError(f"cannot {what} {user_path!r}: {why or e}")
    return OSError(e.errno, f"cannot {what} {user_path!r}: {why or e.strerror}", user_path)


def _kind_of(mode: int) -> str:
    for test, what in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Temporary files of earlier saves to the same target whose process no longer runs (killed
    mid-save); those of live processes may still be renamed into place and are left alone."""
    prefix = f"{_TMP_PREFIX}{name[:_TMP_NAME_CHARS]}."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, entry))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _new_file_mode(path: str) -> int:
    """The permission bits of the file at `path` if it exists, else those open() would give a new file
    (0666 less the process's umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    try:
        with open("/proc/self/status") as f:  # reads the umask without changing it (Linux)
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


# ---- load --------------------------------------------------------------------------------------------
class ModelFileError(ValueError):
    """A model file that load refuses; the message names the file and what is wrong with it."""


def _open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """The file at path opened for reading, refused unless it is a regular file: a named pipe would
    block the reader until some process writes to it, a device would be read without end. Opened
    without blocking first and checked on the descriptor, so that nothing can swap the file between
    the check and the read."""
    fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", os.fspath(path))
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"{path} is {_kind_of(mode)}, not a model file; load reads regular files only")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load(path: str | os.PathLike[str], model_class: type[_M]) -> _M:
    """A model saved by save, built as model_class.

    Never unpickles: files with object arrays are refused. Every entry's shape, dtype and size is
    checked against the meta entry before any array is read, and entries that save does not write
    are refused unread.

    Parameters
    ----------
    path : str or os.PathLike
        The model file (a regular file).
    model_class : type
        The class to build: fastmlp.MLP. fastmlp.load passes it, so that this module, which model.py
        imports for save, never imports model.py.

    Returns
    -------
    MLP
        The model, with its weights, optimizer state and everything else the file holds.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    IsADirectoryError
        If the path is a directory.
    PermissionError
        If the file cannot be read.
    ValueError
        A ModelFileError (a ValueError) naming the file and what is wrong with it: not a model file,
        another format version, a damaged or crafted entry.
    MemoryError
        If its arrays take more memory than this process has left.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastmlp
    >>> from fastmlp import persist
    >>> model = fastmlp.MLP([2, 1])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = persist.save(model, os.path.join(folder, "model.npz"))
    ...     copy = persist.load(path, fastmlp.MLP)
    >>> np.array_equal(copy.weights[0], model.weights[0])
    True
    """
    try:
        # The file is opened here, not by np.load, so that it is closed even when np.load fails.
        with _open_regular(path) as fh:
            _check_zip_magic(fh, path)
            with np.load(fh, allow_pickle=False) as f:
                if not isinstance(f, np.lib.npyio.NpzFile):
                    raise ValueError("a single .npy array, not an .npz archive")
                meta = _read_meta(f, path)
                sizes, acts, opt = meta["sizes"], meta["activations"], meta["optimizer"]
                expected = _expected_entries(path, sizes, opt)
                _check_entries(f, path, expected, meta["dtype"])
                try:
                    model = model_class(
                        sizes,
                        activation=acts[:-1],
                        # An empty list is no network: the model refuses None by name (ModelFileError below).
                        output_activation=acts[-1] if acts else None,  # type: ignore[arg-type]
                        init="zeros",
                        bias_init="zeros",
                        seed=meta["seed"],
                        dtype=meta["dtype"],
                        negative_slope=meta["negative_slope"],
                    )
                except (TypeError, ValueError) as e:
                    raise ModelFileError(f"{path} describes no valid network: {e}") from None
                files = {k: f[k] for k in expected}
    except (FileNotFoundError, IsADirectoryError, PermissionError, MemoryError, ModelFileError):
        raise
    except Exception as e:  # truncated zip, bad CRC, pickled arrays
        raise ModelFileError(f"{path} is not a readable fastmlp model file ({type(e).__name__}: {e})") from None
    model.init, model.bias_init = meta["init"], meta["bias_init"]
    _apply_optional_meta(path, model, meta)
    try:
        model.set_weights([(files[f"W{l}"], files[f"b{l}"]) for l in range(model.n_layers)])
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{path} holds weights that do not fit its network: {e}") from None
    if opt is not None:
        model._opt = _read_optimizer(path, model, opt, files)
    return model


def _check_zip_magic(fh: IO[bytes], path: str | os.PathLike[str]) -> None:
    """A model file is an .npz, a zip archive; anything else is named for what it is not, before NumPy
    takes it for a pickle."""
    head = fh.read(4)
    fh.seek(0)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip's first entry, or an empty zip
        ext = os.path.splitext(os.fspath(path))[1].lower()
        hint = (
            " (it looks like a table: train and predict read tables, info and load read model files)"
            if ext in (".csv", ".parquet", ".pq", ".feather", ".arrow", ".ipc", ".npy")
            else ""
        )
        raise ModelFileError(
            f"{path} is not a fastmlp model file: a model file is an .npz (zip) archive, made by "
            f"save or `fastmlp train --save`{hint}"
        )


def _read_meta(f: np.lib.npyio.NpzFile, path: str | os.PathLike[str]) -> dict[str, Any]:
    if "meta" not in f.files:
        raise ModelFileError(f"{path} is not a fastmlp model file (no valid 'meta' entry)")
    try:
        header = _npy_header(f, "meta")
        if header[0] != () or header[2].kind != "U" or header[2].itemsize > 1 << 20:
            raise ValueError("not a short string")
        meta = json.loads(str(f["meta"]))
        assert meta["format"] == FORMAT_NAME
    except Exception:
        raise ModelFileError(f"{path} is not a fastmlp model file (no valid 'meta' entry)") from None
    if meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {meta.get('version')}; this fastmlp reads version {FORMAT_VERSION}"
        )
    for key, kind in META_KEYS.items():
        if key not in meta:
            raise ModelFileError(f"{path}: the model's meta entry lacks {key!r}")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise ModelFileError(f"{path}: the meta entry's {key!r} is {meta[key]!r}, not a {kind}")
    for key, kind in META_OPTIONAL_KEYS.items():
        if not isinstance(meta.get(key), kind):
            raise ModelFileError(f"{path}: the meta entry's {key!r} is {meta[key]!r}, not a {kind}")
    sizes = meta["sizes"]
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s < 2**62 for s in sizes):
        raise ModelFileError(f"{path} describes no valid network: sizes {sizes!r} are not two or more ints >= 1")
    return meta


def _apply_optional_meta(path: str | os.PathLike[str], model: MLP, meta: dict[str, Any]) -> None:
    """The last fit's classification and log-link losses, column names, standardization statistics and
    the training summary, each checked."""
    kind = meta.get("classification_loss")
    if kind is not None and kind not in CLASSIFICATION_LOSSES:
        raise ModelFileError(
            f"{path}: the meta entry's 'classification_loss' is {kind!r}, not "
            f"{', '.join(CLASSIFICATION_LOSSES)} or null"
        )
    model.classification_loss = kind
    link = meta.get("link_loss")  # a file written before it predicts the raw output, as it did then
    if link is not None and link not in MEAN_FUNCTIONS:
        raise ModelFileError(
            f"{path}: the meta entry's 'link_loss' is {link!r}, not {', '.join(MEAN_FUNCTIONS)} or null"
        )
    model.link_loss = link  # before the standardization, which refuses y statistics beside it
    dropout = meta.get("dropout")
    if dropout is not None:
        try:
            model.dropout = check_dropout(dropout, model.n_layers - 1)
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: the meta entry's 'dropout' is {dropout!r}: {e}") from None
    try:
        model.feature_names = meta.get("feature_names")
        model.target_names = meta.get("target_names")
        scaling = meta.get("standardization")
        if scaling is not None:
            if sorted(scaling) != sorted(_SCALING_KEYS):
                raise ValueError(f"its keys are {sorted(scaling)}, expected {list(_SCALING_KEYS)}")
            for key in _SCALING_KEYS:
                v = scaling[key]
                if v is not None and not (
                    isinstance(v, list) and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)
                ):
                    raise ValueError(f"{key} is {v!r}, not a list of numbers or null")
            model.set_standardization(**scaling)
        training = meta.get("training")
        if training is not None:
            last = training.get("last")
            ok = (
                sorted(training) == ["epochs", "fits", "last"]
                and isinstance(last, dict)
                and sorted(last) == sorted(_TRAINING_LAST_KEYS)
                and all(
                    isinstance(training[k], int) and not isinstance(training[k], bool) and training[k] >= 0
                    for k in ("fits", "epochs")
                )
                and all(
                    isinstance(last[k], t) and not isinstance(last[k], bool) for k, t in _TRAINING_LAST_KEYS.items()
                )
            )
            if not ok:
                raise ValueError(f"the training summary {training!r} is not one fastmlp writes")
            model._training = training
        prep = meta.get("preprocessing")
        if prep is not None:
            from .tables import Preprocessor

            model.preprocessing = Preprocessor.from_dict(prep)
    except (TypeError, ValueError) as e:
        raise ModelFileError(
            f"{path} holds invalid column names, standardization statistics, training summary or preprocessing: {e}"
        ) from None


def _expected_entries(path: str | os.PathLike[str], sizes: list[int], opt: object) -> dict[str, tuple[int, ...]]:
    """Each array entry save writes for this network, with the shape it must have."""
    shapes: dict[str, tuple[int, ...]] = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"W{l}"], shapes[f"b{l}"] = (fan_in, fan_out), (fan_out,)
    if opt is not None:
        names = opt.get("names") if isinstance(opt, dict) else None
        if not isinstance(names, list) or len(names) > _core.max_optimizer_states:
            raise ModelFileError(f"{path} holds an invalid optimizer entry (state names {names!r})")
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            for s in range(len(names)):
                shapes[f"opt_W{l}_{s}"], shapes[f"opt_b{l}_{s}"] = (fan_in, fan_out), (fan_out,)
    return shapes


def _check_entries(
    f: np.lib.npyio.NpzFile, path: str | os.PathLike[str], expected: Mapping[str, tuple[int, ...]], dtype: str
) -> None:
    """Refuses unknown entries (unread), missing ones, and any whose header disagrees with the network;
    then MemoryError if the arrays cannot fit in the memory left."""
    from .memory import available_memory

    repeated = sorted({n for n in f.files if f.files.count(n) > 1})
    if repeated:  # a zip may hold two members of one name; which one is read would be the reader's choice
        raise ModelFileError(f"{path} holds the entry {repeated[0]!r} more than once")
    unknown = sorted(set(f.files) - set(expected) - {"meta"})
    if unknown:
        raise ModelFileError(
            f"{path} holds entries that a fastmlp model file does not have: {', '.join(unknown[:5])} "
            f"(refused without reading them)"
        )
    total = 0
    for name, shape in expected.items():
        if name not in f.files:
            kind = "optimizer array" if name.startswith("opt_") else "array"
            raise ModelFileError(f"{path} lacks the {kind} '{name}'")
        got, fortran, dt = _npy_header(f, name)
        if dt.kind != "f" or got != shape:
            what = (
                f"optimizer array '{name}' is {dt}{got}; it must be floats shaped like its parameter {shape}"
                if name.startswith("opt_")
                else f"holds weights that do not fit its network: '{name}' is {dt}{got}, its meta needs floats "
                f"of shape {shape}"
            )
            raise ModelFileError(f"{path}: {what}")
        info = _zip(f).getinfo(name + ".npy")
        nbytes = int(np.prod(shape, dtype=np.float64)) * dt.itemsize
        if info.file_size < nbytes:
            raise ModelFileError(f"{path}: entry '{name}' declares {nbytes} bytes of data but holds {info.file_size}")
        total += nbytes
    left = available_memory()
    if total > left:
        raise MemoryError(
            f"{path}: its arrays take {total / 2**30:.3g} GiB, more than the {left / 2**30:.3g} GiB "
            f"of memory available to this process"
        )


def _zip(f: np.lib.npyio.NpzFile) -> zipfile.ZipFile:
    """The archive of an open NpzFile (NumPy's stub allows None, which only a closed one has)."""
    return cast("zipfile.ZipFile", f.zip)


def _npy_header(f: np.lib.npyio.NpzFile, name: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) of an .npz entry, read from its header alone."""
    with _zip(f).open(name + ".npy") as fp:
        return read_npy_header(fp, f"entry {name!r}")


def read_npy_header(fp: IO[bytes], what: str = "the file") -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) from the .npy header at fp's position, which it leaves at the data."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)
    raise ValueError(f"{what} has .npy format version {version}")


def _read_optimizer(
    path: str | os.PathLike[str], model: MLP, opt: dict[str, Any], files: Mapping[str, NDArray[Any]]
) -> dict[str, Any]:
    try:
        optimizer = from_config(opt["config"])  # an unknown optimizer is refused now, not at the next fit
        names, step = list(opt["names"]), opt["step"]
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} holds an invalid optimizer entry ({type(e).__name__}: {e})") from None
    if names != list(optimizer.state_names()):
        raise ModelFileError(
            f"{path}: the optimizer's state is {names}, but {type(optimizer).__name__} keeps "
            f"{list(optimizer.state_names())}"
        )
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ModelFileError(f"{path}: the optimizer's step count is {step!r}, not an int >= 0")
    if step > _MAX_STEP:  # past it the trainer's 64-bit count and the bias corrections' doubles give out
        raise ModelFileError(f"{path}: the optimizer's step count {step} is past 2**53, more steps than a fit takes")
    state: dict[str, list[list[NDArray[Any]]]] = {"w": [], "b": []}
    for l, (w, b) in enumerate(zip(model.weights, model.biases)):
        for kind, param in (("W", w), ("b", b)):
            buffers: list[NDArray[Any]] = []
            for s in range(len(names)):
                key = f"opt_{kind}{l}_{s}"
                a = files[key]
                if a.shape != param.shape or a.dtype.kind != "f" or not np.isfinite(a).all():
                    raise ModelFileError(
                        f"{path}: optimizer array '{key}' has {a.dtype}{a.shape} or non-finite "
                        f"values; it must be finite floats shaped like its parameter {param.shape}"
                    )
                buffers.append(np.ascontiguousarray(a, dtype=model.dtype))
            state["w" if kind == "W" else "b"].append(buffers)
    return {"config": opt["config"], "names": names, "step": step, **state}
