#!/usr/bin/env bash
# Check the Debian packages that `make run` and `make test` need, and install the missing ones
# with apt-get when running as root. An ordinary user gets the exact command to run instead.
#
#   usage: scripts/system-deps.sh run|test [PYTHON]
#
#   PYTHON is the interpreter that will create the virtual environment. Leave it out when the
#   environment exists already, so its venv module is not checked.
#
#   run:  python3-venv (only when PYTHON cannot create a virtual environment) and
#         dataset-fashion-mnist (the default dataset, unless CNN_PLAYGROUND_FASHION_MNIST_DIR
#         points to a folder that already has the files)
#   test: the same, plus chromium and chromium-driver for the browser tests
set -euo pipefail

purpose="${1:-run}"
python="${2:-}"
debian_dataset_dir=/usr/share/datasets/fashion-mnist
dataset_dir="${CNN_PLAYGROUND_FASHION_MNIST_DIR:-$debian_dataset_dir}"

case "$purpose" in
    run | test) ;;
    *)
        echo "system-deps.sh: invalid purpose '$purpose'; use 'run' or 'test'" >&2
        exit 2
        ;;
esac

# True when FOLDER has both splits under one of the file names the IDX reader accepts.
has_fashion_mnist() {
    local folder="$1" split kind found name
    for split in train t10k; do
        for kind in images-idx3 labels-idx1; do
            found=no
            for name in "$split-$kind-ubyte.gz" "$split-$kind-ubyte" "$split-${kind/-/.}-ubyte"; do
                [ -f "$folder/$name" ] && found=yes
            done
            [ "$found" = yes ] || return 1
        done
    done
}

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

packages=()
if [ -n "$python" ] && ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
    packages+=(python3-venv)
fi

if ! has_fashion_mnist "$dataset_dir"; then
    if [ "$dataset_dir" != "$debian_dataset_dir" ]; then
        # apt-get cannot fill a folder of the user's choice, so stop with both ways out.
        echo "CNN_PLAYGROUND_FASHION_MNIST_DIR is '$dataset_dir', but that folder has no" >&2
        echo "Fashion-MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz," >&2
        echo "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz). Copy them there, or unset" >&2
        echo "the variable to use the Debian package dataset-fashion-mnist in $debian_dataset_dir." >&2
        exit 1
    fi
    packages+=(dataset-fashion-mnist)
fi

if [ "$purpose" = test ]; then
    is_installed chromium || packages+=(chromium)
    is_installed chromium-driver || packages+=(chromium-driver)
fi

if [ "${#packages[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${packages[*]}" >&2
    echo "Installing them needs root. Run this (as root, leave out sudo), then make again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${packages[*]}" >&2
    exit 1
fi

echo "Installing Debian packages: ${packages[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"

if [ "$dataset_dir" = "$debian_dataset_dir" ] && ! has_fashion_mnist "$dataset_dir"; then
    echo "dataset-fashion-mnist is installed, but $dataset_dir still lacks its files." >&2
    echo "Reinstall it as root: apt-get install --reinstall dataset-fashion-mnist" >&2
    exit 1
fi
