#!/usr/bin/python3
"""Generate ONNX's own backend node-test cases into a directory.

Debian's python3-onnx ships the generators of the ONNX backend node tests
(onnx.backend.test.case.node) but not their data.  This is the equivalent of
`backend-test-tools generate-data -o DIR` restricted to node cases, run from
Python so that the numpy aliases removed in numpy 1.24 (np.float, np.int,
np.bool, np.object), which onnx 1.12's generators still use, can be restored
first.  Each case becomes DIR/node/<name>/model.onnx plus
test_data_set_N/{input,output}_K.pb, exactly as the upstream tool writes them.

Usage: gen_node_cases.py OUTPUT_DIR
A file OUTPUT_DIR/.complete marks a finished run so tests can cache it.
"""
import os
import shutil
import sys

import numpy as np

for alias, value in (("float", float), ("int", int), ("bool", bool),
                     ("object", object)):
    if alias not in np.__dict__:
        setattr(np, alias, value)

import onnx.backend.test.case.node as node_test  # noqa: E402
from onnx import numpy_helper  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    marker = os.path.join(out, ".complete")
    if os.path.exists(marker):
        return 0
    tmp = out + ".partial"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    cases = node_test.collect_testcases(None)
    n = 0
    for case in cases:
        case_dir = os.path.join(tmp, case.kind, case.name)
        # A few names repeat; like the upstream tool, the last one wins.
        if os.path.exists(case_dir):
            shutil.rmtree(case_dir)
            n -= 1
        os.makedirs(case_dir)
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        graph = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(ds)
            for kind, values, decl in (("input", inputs, graph.input),
                                       ("output", outputs, graph.output)):
                for j, value in enumerate(values):
                    if not decl[j].type.HasField("tensor_type"):
                        # Sequences, maps and optionals: not tensors, and
                        # not among the ops Nova runs; the case is skipped.
                        continue
                    t = numpy_helper.from_array(np.asarray(value),
                                                decl[j].name)
                    with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(t.SerializeToString())
        n += 1
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    with open(marker, "w") as f:
        f.write(f"{n}\n")
    print(f"gen_node_cases: {n} cases in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
