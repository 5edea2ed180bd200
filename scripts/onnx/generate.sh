#!/usr/bin/env bash
# Regenerates lib/onnx/gen/onnx_pb.ts, the ONNX protobuf messages, from the official onnx.proto that the
# onnx Python package ships (the version requirements.txt pins), with buf and protoc-gen-es
# (@bufbuild/protobuf's code generator). Run after changing the onnx pin; the output is committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
proto=$(.venv/bin/python -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "onnx.proto"))')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
npx buf generate "$work" --template '{"version":"v2","plugins":[{"local":"protoc-gen-es","out":"lib/onnx/gen","opt":["target=ts","import_extension=js"]}]}'
echo "lib/onnx/gen/onnx_pb.ts from $proto"
