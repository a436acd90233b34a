# envdoctor probe launcher: runs inside the interpreter under test.
#
#   TARGET_PYTHON -B _launch.py PROBE REQUEST.json RESULT.json
#
# This file must parse on any Python, 2.7 included, so that a too-old interpreter gets a clear
# message (exit 97) instead of a SyntaxError: no f-strings, no annotations, no keyword-only args.
# It drops its own folder from sys.path (the probed environment's path is what we report), runs
# probes/PROBE.py's main(request) and writes the returned object as JSON to RESULT.json.
# Standard library only. stdout and stderr belong to the probed packages.
import sys

MIN_VERSION = (3, 8)
TOO_OLD_EXIT = 97

if sys.version_info[:2] < MIN_VERSION:
    sys.stderr.write(
        "envdoctor: this interpreter is Python %d.%d; envdoctor's probes need Python %d.%d or newer\n"
        % (sys.version_info[0], sys.version_info[1], MIN_VERSION[0], MIN_VERSION[1])
    )
    sys.exit(TOO_OLD_EXIT)

import json  # noqa: E402
import os  # noqa: E402
import runpy  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _drop_own_dir():
    # The script's folder is sys.path[0]; a user's training script would have its own there.
    if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
        del sys.path[0]


def _write(path, obj):
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8") as fh:
        # ASCII JSON: a name the file system gives with undecodable bytes (a surrogate escape) travels as
        # "\\udcff" and comes back as the same name, which opens the same file
        json.dump(obj, fh, ensure_ascii=True, separators=(",", ":"))
    os.replace(tmp, path)


def launch(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: _launch.py PROBE REQUEST.json RESULT.json\n")
        return 2
    probe, request_path, result_path = argv[1], argv[2], argv[3]
    request = None
    _drop_own_dir()
    try:
        with open(request_path, encoding="utf-8") as fh:
            request = json.load(fh)
        namespace = runpy.run_path(os.path.join(HERE, probe + ".py"), run_name="envdoctor_probe")
        result = namespace["main"](request)
    except BaseException as exc:  # probed packages raise SystemExit and KeyboardInterrupt too
        import traceback

        result = {
            "probe_error": {
                "type": type(exc).__name__,
                "message": str(exc)[:2000],
                "traceback": traceback.format_exc()[-8000:],
            }
        }
    _write(result_path, result)
    if isinstance(request, dict) and request.get("exit_at_once"):
        # an import probe's answer is written; what the imported code left behind (non-daemon threads,
        # atexit handlers) must not turn it into a hang
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105 - kept to the plain statements this file uses everywhere
                stream.flush()
            except Exception:
                pass
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(launch(sys.argv))
