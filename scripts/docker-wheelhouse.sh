#!/bin/sh
# Fill docker/wheelhouse/ with every wheel the image's `pip install` needs (the package's
# dependencies, and setuptools and wheel to build the package itself), for a build that
# cannot reach PyPI from inside the container:
#
#   scripts/docker-wheelhouse.sh
#   docker build --build-arg PIP_NO_INDEX=1 -t gateway .
#
# The wheels must suit the image's Python (Debian bookworm: CPython 3.11 on glibc 2.36), so
# this runs pip with a CPython 3.11 on the host ($PYTHON, default python3). pip runs with
# --isolated: this machine's pip config (local indexes, constraints) is left out, so the
# wheelhouse holds what PyPI serves. The folder's content is git-ignored.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
python="${PYTHON:-python3}"
out="$root/docker/wheelhouse"
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
    echo "$python is Python $version; the image's is 3.11 (set PYTHON=)" >&2
    exit 2
fi
mkdir -p "$out"
"$python" -m pip wheel --isolated --disable-pip-version-check --wheel-dir "$out" "$root"
"$python" -m pip download --isolated --disable-pip-version-check --only-binary=:all: \
    --dest "$out" "setuptools>=77" wheel
rm -f "$out"/gateway-*.whl  # the image builds the package from its source
ls "$out" | wc -l | xargs printf '%s files in docker/wheelhouse, '
du -sh "$out" | cut -f1
