#!/usr/bin/python3
"""Write the corpus of broken ONNX models the loader must refuse.

Each file in tests/nn/corpus/ is a model that is wrong in one way; the unit
test tests/unit/test_nn.c replays them all (and the fuzz target starts from
them).  Regenerate with:  /usr/bin/python3 tools/nn/make_bad_models.py
Uses Debian's python3-onnx helper API only to build the protobufs.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "tests", "nn", "corpus")


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "bad", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def conv_model():
    w = numpy_helper.from_array(
        np.random.RandomState(0).rand(4, 3, 3, 3).astype(np.float32), "w")
    return model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1",
                                   pads=[1, 1, 1, 1])],
                 [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 8, 8])], [w])


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}
    good = conv_model()
    files["truncated.onnx"] = good[: len(good) // 2]
    files["empty.onnx"] = b""
    files["not_protobuf.onnx"] = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    files["unknown_op.onnx"] = model(
        [helper.make_node("FooBar", ["x"], ["y"], name="mystery")],
        [vi("x", [2])], [vi("y", [2])])
    files["wrong_shapes.onnx"] = model(
        [helper.make_node("Add", ["a", "b"], ["y"], name="add1")],
        [vi("a", [2, 3]), vi("b", [4, 5])], [vi("y", [2, 3])])
    files["cycle.onnx"] = model(
        [helper.make_node("Relu", ["x2"], ["x1"], name="r1"),
         helper.make_node("Add", ["x1", "x"], ["x2"], name="r2")],
        [vi("x", [2])], [vi("x1", [2])])
    huge = TensorProto()
    huge.name = "w"
    huge.data_type = TensorProto.FLOAT
    huge.dims.extend([1 << 40, 1 << 40])
    files["huge_dims.onnx"] = model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add1")],
        [vi("x", [1])], [vi("y", [1])], [huge])
    files["huge_input.onnx"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu1")],
        [vi("x", [1 << 20, 1 << 20, 1 << 20])], [vi("y", [1])])
    files["dangling_input.onnx"] = model(
        [helper.make_node("Relu", ["nowhere"], ["y"], name="relu1")],
        [vi("x", [2])], [vi("y", [2])])
    wbad = numpy_helper.from_array(np.zeros((4, 5, 3, 3), np.float32), "w")
    files["conv_channels.onnx"] = model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")],
        [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 6, 6])], [wbad])
    ext = TensorProto()
    ext.name = "w"
    ext.data_type = TensorProto.FLOAT
    ext.dims.extend([2])
    ext.data_location = TensorProto.EXTERNAL
    e = ext.external_data.add()
    e.key, e.value = "location", "../../../../etc/passwd"
    files["external_escape.onnx"] = model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add1")],
        [vi("x", [2])], [vi("y", [2])], [ext])
    raw = TensorProto()
    raw.name = "w"
    raw.data_type = TensorProto.FLOAT
    raw.dims.extend([4])
    raw.raw_data = b"\x00" * 7
    files["raw_size.onnx"] = model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add1")],
        [vi("x", [4])], [vi("y", [4])], [raw])
    shape = numpy_helper.from_array(np.array([5, 5], np.int64), "shape")
    files["reshape_count.onnx"] = model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape1")],
        [vi("x", [2, 3])], [vi("y", [5, 5])], [shape])
    files["duplicate_output.onnx"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="a"),
         helper.make_node("Relu", ["x"], ["y"], name="b")],
        [vi("x", [2])], [vi("y", [2])])
    files["opset_99.onnx"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu1")],
        [vi("x", [2])], [vi("y", [2])], opset=99)
    files["arity.onnx"] = model(
        [helper.make_node("Relu", ["x", "x"], ["y"], name="relu1")],
        [vi("x", [2])], [vi("y", [2])])
    files["symbolic_dim.onnx"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu1")],
        [vi("x", ["N", 3])], [vi("y", ["N", 3])])
    files["gather_index.onnx"] = model(
        [helper.make_node("Gather", ["x", "i"], ["y"], name="gather1")],
        [vi("x", [3, 2])], [vi("y", [1, 2])],
        [numpy_helper.from_array(np.array([7], np.int64), "i")])
    # Fuzz finds (fuzz_onnx, 2026-11-29): a node whose first input is
    # omitted ('') crashed the shape checks; it must be refused.
    files["omitted_input.onnx"] = model(
        [helper.make_node("MaxPool", [""], ["y"], name="pool1",
                          kernel_shape=[2, 2])],
        [vi("x", [1, 1, 4, 4])], [vi("y", [1, 1, 2, 2])])
    # A STRING attribute without its s field went to strndup(NULL); it now
    # loads as the empty string, which auto_pad does not accept.
    bare = onnx.AttributeProto(name="auto_pad",
                               type=onnx.AttributeProto.STRING)
    pool = helper.make_node("MaxPool", ["x"], ["y"], name="pool1",
                            kernel_shape=[2, 2], strides=[2, 2])
    pool.attribute.append(bare)
    files["string_attr_without_s.onnx"] = model(
        [pool], [vi("x", [1, 1, 4, 4])], [vi("y", [1, 1, 2, 2])])
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    # One good model with an independent numpy reference (explicit loops),
    # for the unit test's run-time checks.
    good_dir = os.path.join(OUT, "..", "good")
    os.makedirs(good_dir, exist_ok=True)
    rs = np.random.RandomState(1)
    x = rs.randn(1, 3, 6, 5).astype(np.float32)
    w = rs.randn(4, 3, 3, 3).astype(np.float32)
    b = rs.randn(4).astype(np.float32)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((1, 4, 6, 5))
    for m in range(4):
        for i in range(6):
            for j in range(5):
                y[0, m, i, j] = (xp[0, :, i:i + 3, j:j + 3] * w[m]).sum() + b[m]
    y = np.maximum(y, 0).astype(np.float32)
    g = model([helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1",
                                pads=[1, 1, 1, 1]),
               helper.make_node("Relu", ["c"], ["y"], name="relu1")],
              [vi("x", [1, 3, 6, 5])], [vi("y", [1, 4, 6, 5])],
              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    with open(os.path.join(good_dir, "conv_relu.onnx"), "wb") as f:
        f.write(g)
    np.save(os.path.join(good_dir, "conv_relu.input.npy"), x)
    np.save(os.path.join(good_dir, "conv_relu.output.npy"), y)
    print(f"make_bad_models: {len(files)} files in {os.path.normpath(OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
