"""protoc plugin that produces gRPC Python stubs (`*_pb2_grpc.py`) with grpcio-tools.

grpcio-tools links its gRPC Python generator into its own protoc instead of shipping
a `protoc-gen-grpc_python` executable, so this plugin bridges the two:

1. read the CodeGeneratorRequest on stdin;
2. write its `proto_file` list (every file to generate and all their imports,
   already parsed by buf) as a FileDescriptorSet to a temporary file;
3. run `python -m grpc_tools.protoc --descriptor_set_in=SET --grpc_python_out=OUT`
   on the files to generate, with the request's parameter as generator options;
4. answer a CodeGeneratorResponse with every file written under OUT.

Run it with client/tools/.venv's interpreter (see protoc-gen-grpc_python beside it).
"""

import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse()
    # The gRPC generator reads only services, so proto3 `optional` fields are fine.
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with tempfile.TemporaryDirectory(prefix="protoc-gen-grpc_python.") as tmp:
        descriptor_set = os.path.join(tmp, "input.binpb")
        out_dir = os.path.join(tmp, "out")
        os.mkdir(out_dir)
        fds = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        with open(descriptor_set, "wb") as f:
            f.write(fds.SerializeToString())
        out = f"{request.parameter}:{out_dir}" if request.parameter else out_dir
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptor_set}",
            f"--grpc_python_out={out}",
            *request.file_to_generate,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            response.error = (
                f"grpc_tools.protoc exited with {result.returncode}: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
            return response
        for root, _dirs, files in os.walk(out_dir):
            for name in sorted(files):
                path = os.path.join(root, name)
                generated = response.file.add()
                generated.name = os.path.relpath(path, out_dir).replace(os.sep, "/")
                with open(path, encoding="utf-8") as f:
                    generated.content = f.read()
    return response


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
