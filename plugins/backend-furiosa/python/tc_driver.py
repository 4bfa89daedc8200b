# fxb's TC driver: one process per build generates the TC text of every kernel x bucket
# with the furiosa-kernels package the user installed (fxb ships none of it).
#
# Requests, one JSON line each on stdin:
#   {"module": "llama", "function": "llama3_1_8b_w16a16_first_tokenwise",
#    "arguments": {"num_tokens": 1, ...}, "config": {...config.json...}}
# Replies on stdout: a JSON line {"ok": true, "size": N} followed by N bytes of UTF-8 TC,
# or {"ok": false, "error": "..."}. The process ends when stdin closes.
import importlib
import json
import sys
import traceback


def main():
    out = sys.stdout.buffer
    modules = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            name = request["module"]
            if name not in modules:
                modules[name] = importlib.import_module("furiosa.kernels." + name)
            function = getattr(modules[name], request["function"], None)
            if function is None:
                raise LookupError(
                    "furiosa.kernels.%s has no entry function `%s`" % (name, request["function"])
                )
            kernel = function(hf_config_overrides=request["config"], **request["arguments"])
            text = kernel.dsl.encode("utf-8")
            out.write(json.dumps({"ok": True, "size": len(text)}).encode() + b"\n")
            out.write(text)
        except Exception as e:
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            out.write(json.dumps({"ok": False, "error": last}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
