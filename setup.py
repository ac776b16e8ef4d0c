"""Build the Cython extension over libcrypto and generate the gRPC stubs from proto/."""

import os
import shutil
import tempfile

from setuptools import Command, Extension, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
PROTO_SOURCE = os.path.join(ROOT, "proto", "grep11.proto")
GENERATED_PACKAGE = os.path.join(ROOT, "grpc_server", "generated")


def generate_stubs():
    """Compile proto/grep11.proto into grpc_server/generated/.

    The proto is compiled from a temporary tree in which it sits at
    grpc_server/generated/grep11.proto, so the generated gRPC module imports its message
    module by the package path and not as a top-level module.
    """
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tree:
        target_dir = os.path.join(tree, "grpc_server", "generated")
        os.makedirs(target_dir)
        shutil.copy(PROTO_SOURCE, os.path.join(target_dir, "grep11.proto"))
        output = os.path.join(tree, "out")
        os.makedirs(output)
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{tree}",
                f"--python_out={output}",
                f"--pyi_out={output}",
                f"--grpc_python_out={output}",
                "grpc_server/generated/grep11.proto",
            ]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed on {PROTO_SOURCE} with exit status {status}")
        os.makedirs(GENERATED_PACKAGE, exist_ok=True)
        built = os.path.join(output, "grpc_server", "generated")
        for name in os.listdir(built):
            shutil.copy(os.path.join(built, name), os.path.join(GENERATED_PACKAGE, name))
    init = os.path.join(GENERATED_PACKAGE, "__init__.py")
    if not os.path.exists(init):
        with open(init, "w") as handle:
            handle.write('"""Modules generated from proto/grep11.proto at build time."""\n')


class BuildProto(Command):
    """Generate the gRPC stubs into the source tree (``python setup.py build_proto``)."""

    description = "generate grpc_server/generated from proto/grep11.proto"
    user_options = []

    def initialize_options(self):
        pass

    def finalize_options(self):
        pass

    def run(self):
        generate_stubs()


class BuildPyWithStubs(build_py):
    """Generate the stubs before the Python modules are collected."""

    def run(self):
        generate_stubs()
        super().run()


def _extension(name: str, *extra_compile_args: str) -> Extension:
    """Return the extension ep11core.NAME, built from ep11core/NAME.pyx against libcrypto."""
    return Extension(
        f"ep11core.{name}",
        sources=[f"ep11core/{name}.pyx"],
        libraries=["crypto"],
        extra_compile_args=[*extra_compile_args, "-O2"],
    )


def extensions():
    from Cython.Build import cythonize

    modules = [
        # The Keccak sponge comes first: the other modules cimport it.
        _extension("_keccak"),
        # The SHA*_CTX functions give serialisable hash contexts; OpenSSL 3 marks them
        # deprecated but still ships them.
        _extension("_crypto", "-Wno-deprecated-declarations"),
        _extension("_kyber"),
        _extension("_dilithium"),
    ]
    return cythonize(
        modules,
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    )


setup(
    ext_modules=extensions(),
    cmdclass={"build_py": BuildPyWithStubs, "build_proto": BuildProto},
)
