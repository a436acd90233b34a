"""Inventory probe: runs inside the interpreter under test, standard library only, Python 3.8+.

Reports the interpreter, its marker environment, sys.path and every distribution found on it
(``*.dist-info``, ``*.egg-info``, eggs on the path), in sys.path order, the way
importlib.metadata finds them, but without importlib.metadata's strictness: a METADATA file that
cannot be read or parsed becomes a "problems" entry on that distribution, never an exception.
"""

import errno
import json
import os
import stat
import sys
import sysconfig

SCHEMA = "envdoctor.inventory/1"
HEADER_LIMIT = 1024 * 1024
MAX_LINE_PROBLEMS = 3


def marker_environment():
    """PEP 508 marker variables, computed as packaging.markers.default_environment() does."""
    import platform  # not needed to compare a fingerprint in envdoctor's process

    info = sys.implementation.version
    iver = "{0.major}.{0.minor}.{0.micro}".format(info)
    if info.releaselevel != "final":
        iver += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": iver,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def interpreter():
    import platform

    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "sys_version": sys.version,
        "version_info": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "cache_tag": sys.implementation.cache_tag,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "platform": sysconfig.get_platform(),
        "soabi": sysconfig.get_config_var("SOABI") or "",
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
        "pointer_bits": 64 if sys.maxsize > 2**32 else 32,
    }


def stdlib_modules():
    """The standard library's top-level module names: sys.stdlib_module_names (3.10+); on 3.8 and 3.9 the
    built-in modules and what the stdlib and lib-dynload folders hold."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return sorted(names)
    import pkgutil  # not needed when the environment is unchanged (main returns early)

    found = set(sys.builtin_module_names)
    stdlib = sysconfig.get_paths().get("stdlib") or ""
    folders = [stdlib, os.path.join(stdlib, "lib-dynload")] if stdlib else []
    found.update(m[1] for m in pkgutil.iter_modules(folders))
    found.discard("site-packages")
    return sorted(found)


def top_level_modules(paths):
    """Every top-level module name importable from ``paths`` (a directory listing each, nothing imported),
    plus the built-in ones: what an `import NAME` can find, whichever distribution (if any) put it there.

    The names pkgutil.iter_modules(paths) gives, plus every folder whose name is an identifier (namespace
    packages, which iter_modules skips), read with one listing of each folder: a subfolder is listed only
    when its name is no identifier (iter_modules counts it when it holds an ``__init__``)."""
    found = set(sys.builtin_module_names)
    try:
        for folder in (os.path.abspath(p or ".") for p in paths):
            found.update(_folder_modules(folder))
    except Exception:  # an unreadable entry must not cost the inventory
        return []
    return sorted(found)


def _folder_modules(folder):
    importer = _importer(folder)
    if importer is None:
        return ()
    from importlib.machinery import FileFinder

    if type(importer) is not FileFinder:  # a zip on the path, or a path hook's own finder: pkgutil's answer
        import pkgutil

        return [name for _, name, _ in pkgutil.iter_modules([folder])] + _subfolders(folder)
    names = []
    for fn, is_dir in _listing(importer.path):
        modname = _module_name(fn)
        if modname:
            if modname != "__init__" and "." not in modname:
                names.append(modname)
        elif is_dir and "." not in fn and (fn.isidentifier() or _has_init(os.path.join(importer.path, fn))):
            names.append(fn)
    if importer.path != folder:
        names.extend(_subfolders(folder))
    return names


def _importer(folder):
    """pkgutil.get_importer(folder), without importing pkgutil."""
    try:
        return sys.path_importer_cache[folder]
    except KeyError:
        pass
    for hook in sys.path_hooks:
        try:
            importer = hook(folder)
        except ImportError:
            continue
        sys.path_importer_cache.setdefault(folder, importer)
        return importer
    return None


def _listing(folder):
    """(name, is a folder) of each entry of ``folder`` (symlinks followed); nothing when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return [(entry.name, _is_dir(entry)) for entry in entries]
    except OSError:
        return []


def _is_dir(entry):
    try:
        return entry.is_dir()
    except OSError:
        return False


def _subfolders(folder):
    return [fn for fn, is_dir in _listing(folder) if is_dir and fn.isidentifier()]


def _has_init(path):
    return any(_module_name(fn) == "__init__" for fn, _ in _listing(path))


_SUFFIXES = []  # type: list[tuple[int, str]]


def _module_name(fn):
    """inspect.getmodulename(fn), without importing inspect."""
    if not _SUFFIXES:
        from importlib.machinery import all_suffixes

        _SUFFIXES.extend(sorted((-len(suffix), suffix) for suffix in all_suffixes()))
    for neglen, suffix in _SUFFIXES:
        if fn.endswith(suffix):
            return fn[:neglen]
    return None


def parse_headers(text):
    """RFC 822-style headers up to the first empty line; continuation lines are joined."""
    headers = {}  # type: dict[str, list[str]]
    problems = []  # type: list[str]
    last = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line:  # a line of blanks is a continuation (pandas' License: field), as in email.parser
            break
        if line[0] in " \t" and last is not None:
            key, values = last
            values[-1] = values[-1] + "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or " " in key.strip():
            if len(problems) < MAX_LINE_PROBLEMS:
                problems.append("unparseable line %d: %r" % (number, line[:60]))
            last = None
            continue
        key = key.strip()
        values = headers.setdefault(key, [])
        values.append(value.strip())
        last = (key, values)
    return headers, problems


def open_regular(path):
    """``path`` opened for reading in binary, without blocking: a FIFO or a device in place of a metadata
    file is an OSError ("not a regular file"), never a hang."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_text(path, limit=HEADER_LIMIT, headers_only=False):
    """The file's text (at most ``limit`` bytes); with ``headers_only``, up to the first blank line:
    METADATA carries the whole README after its headers, which nobody here needs. Names are carried as
    the file system gives them (undecodable bytes as surrogate escapes; the launcher writes ASCII JSON)."""
    with open_regular(path) as fh:
        if headers_only:
            data = b""
            while len(data) < limit:
                chunk = fh.read(16384)
                data += chunk
                end = data.find(b"\n\n")
                if end >= 0:
                    data = data[: end + 1]
                    break
                if not chunk:
                    break
        else:
            data = fh.read(limit)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return data.decode("utf-8", "replace"), "not valid UTF-8 (%s)" % exc.reason


def egg_requires(path):
    """requires.txt of an egg-info, as Requires-Dist lines (what importlib.metadata does)."""
    reqs = []
    section = ""
    text, _ = read_text(path)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        extra, _sep, markers = section.partition(":")
        conds = []
        if extra:
            conds.append('extra == "%s"' % extra)
        if markers:
            conds.append("(" + markers + ")")
        reqs.append(line + ("; " + " and ".join(conds) if conds else ""))
    return reqs


def describe(meta_dir, location, kind):
    """One distribution: its headers and the small files beside METADATA."""
    dist = {"path": meta_dir, "location": location, "kind": kind, "problems": []}
    problems = dist["problems"]
    dist["unreadable"] = None
    if os.path.isdir(meta_dir):
        meta_name = "METADATA" if kind == "dist-info" else "PKG-INFO"
        meta_path = os.path.join(meta_dir, meta_name)
        try:
            files = set(os.listdir(meta_dir))
        except OSError as exc:  # the folder exists but cannot be read: not a missing file
            dist["unreadable"] = "cannot list %s: %s" % (meta_dir, exc.strerror)
            files = set()
    else:  # an .egg-info file is itself the PKG-INFO
        files = set()
        meta_name = os.path.basename(meta_dir)
        meta_path = meta_dir
    dist["metadata_file"] = meta_name
    headers = {}
    if dist["unreadable"]:
        pass
    elif meta_path == meta_dir or meta_name in files:
        try:
            text, err = read_text(meta_path, headers_only=True)
            if err:
                problems.append("%s is %s" % (meta_name, err))
            headers, bad = parse_headers(text)
            problems.extend(bad)
        except OSError as exc:
            problems.append("cannot read %s: %s" % (meta_name, exc.strerror))
    else:
        problems.append("no %s file" % meta_name)
    dist["missing_metadata"] = meta_path != meta_dir and meta_name not in files and not dist["unreadable"]
    dist["name"] = (headers.get("Name") or [None])[0]
    dist["version"] = (headers.get("Version") or [None])[0]
    dist["metadata_version"] = (headers.get("Metadata-Version") or [None])[0]
    dist["requires_python"] = (headers.get("Requires-Python") or [None])[0]
    dist["requires_dist"] = headers.get("Requires-Dist", [])
    dist["provides_extra"] = headers.get("Provides-Extra", [])
    if kind == "egg-info" and "requires.txt" in files and not dist["requires_dist"]:
        try:
            dist["requires_dist"] = egg_requires(os.path.join(meta_dir, "requires.txt"))
        except OSError as exc:
            problems.append("cannot read requires.txt: %s" % exc.strerror)
    dist["has_record"] = "RECORD" in files or bool(dist["unreadable"])
    dist["installer"] = small_file(meta_dir, "INSTALLER", files)
    dist["requested"] = "REQUESTED" in files
    dist["wheel_tags"] = wheel_tags(meta_dir, files)
    dist["direct_url"] = direct_url(meta_dir, files, problems)
    return dist


def small_file(meta_dir, name, files):
    if name not in files:
        return None
    try:
        return read_text(os.path.join(meta_dir, name), 4096)[0].strip() or None
    except OSError:
        return None


def wheel_tags(meta_dir, files):
    text = small_file(meta_dir, "WHEEL", files)
    if not text:
        return []
    headers, _ = parse_headers(text)
    return headers.get("Tag", [])


def direct_url(meta_dir, files, problems):
    text = small_file(meta_dir, "direct_url.json", files)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        problems.append("direct_url.json is not valid JSON: %s" % exc)
        return None
    return value if isinstance(value, dict) else None


def scan_entry(entry):
    """The distributions in one sys.path entry, sorted by folder name for a stable order."""
    location = os.path.abspath(entry or ".")
    if location.endswith(".egg") and os.path.isdir(os.path.join(location, "EGG-INFO")):
        return [describe(os.path.join(location, "EGG-INFO"), location, "egg-info")]
    try:
        names = sorted(os.listdir(location))
    except OSError:
        return []
    found = []
    for name in names:
        lower = name.lower()
        if lower.endswith(".dist-info"):
            found.append(describe(os.path.join(location, name), location, "dist-info"))
        elif lower.endswith(".egg-info"):
            found.append(describe(os.path.join(location, name), location, "egg-info"))
    return found


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return "%d:%d" % (st.st_size, st.st_mtime_ns)


def _hasher():
    try:  # CPython's own BLAKE2: hashlib would load OpenSSL first, which costs more than the whole fingerprint
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b
    return blake2b(digest_size=16)


def watched():
    """Files whose change may change sys.path itself: the interpreter, pyvenv.cfg, the user site folder
    (it joins sys.path when it appears)."""
    found = [os.path.realpath(sys.executable), os.path.join(sys.prefix, "pyvenv.cfg")]
    try:
        import site

        if site.ENABLE_USER_SITE:
            found.append(site.getusersitepackages())
    except Exception:  # a broken site module must not cost the inventory
        pass
    return found


def fingerprint(paths, markers, executable, version, watch):
    """What the inventory depends on, from stat() calls only (no file is read): the interpreter, its
    markers, the path it scans and ``watch`` (see watched), each path entry's folder (a module or .pth
    added or removed changes its mtime) and each metadata folder's RECORD, METADATA / PKG-INFO and folder
    stamps (size and mtime). Anything pip, uv or conda installs, removes or reinstalls changes it; so
    does editing an installed file and its RECORD. envdoctor computes it again from a stored inventory's
    values (envdoctor.warm), so it depends on nothing else."""
    h = _hasher()
    head = [executable, version, list(paths), sorted(markers.items()), [[w, _stamp(w)] for w in watch]]
    h.update(json.dumps(head, ensure_ascii=True).encode("ascii"))
    for entry in unique_locations(paths):
        h.update(("\n@%s %s" % (entry, _stamp(entry))).encode("utf-8", "surrogateescape"))
        if entry.endswith(".egg") and os.path.isdir(os.path.join(entry, "EGG-INFO")):
            names = ["EGG-INFO"]
        else:
            try:
                names = sorted(os.listdir(entry))
            except OSError:
                continue
        for name in names:
            lower = name.lower()
            if not lower.endswith((".dist-info", ".egg-info")) and name != "EGG-INFO":
                continue
            folder = os.path.join(entry, name)
            stamps = [_stamp(folder)] + [_stamp(os.path.join(folder, f)) for f in ("RECORD", "METADATA", "PKG-INFO")]
            h.update(("\n%s %s" % (name, " ".join(stamps))).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def unique_locations(paths):
    seen = set()
    for entry in paths:
        # realpath: a symlinked alias of a folder already read (a .pth naming a link to site-packages)
        # holds the same files, not a second copy of each distribution
        location = os.path.abspath(entry or ".")
        real = os.path.realpath(location)
        if real not in seen:
            seen.add(real)
            yield location


def main(request):
    """The inventory. ``path``: the folders to scan (default sys.path). ``known``: a fingerprint from an
    earlier run; when the environment still has it, only ``{"schema", "fingerprint", "unchanged": true}``
    comes back (nothing is read)."""
    paths = request.get("path") or list(sys.path)
    markers = marker_environment()
    watch = watched()
    fp = fingerprint(paths, markers, sys.executable, sys.version, watch)
    if request.get("known") and request.get("known") == fp:
        return {"schema": SCHEMA, "fingerprint": fp, "unchanged": True}
    dists = []
    for location in unique_locations(paths):
        dists.extend(scan_entry(location))
    return {
        "schema": SCHEMA,
        "fingerprint": fp,
        "watch": watch,
        "python": interpreter(),
        "markers": markers,
        "sys_path": list(sys.path),
        "stdlib_modules": stdlib_modules(),
        "top_level_modules": top_level_modules(paths),
        "distributions": dists,
    }
