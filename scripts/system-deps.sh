#!/usr/bin/env bash
# Install the Debian packages that the playground needs, or say how to when not root.
#   run:  dataset-fashion-mnist (the default dataset)
#   test: the same plus chromium and chromium-driver for the browser tests
set -euo pipefail

purpose="${1:-run}"
packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || packages+=(dataset-fashion-mnist)
if [ "$purpose" = "test" ]; then
    [ -x /usr/bin/chromium ] || packages+=(chromium)
    [ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
fi

if [ "${#packages[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${packages[*]}" >&2
    echo "Install them as root, then run make again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${packages[*]}" >&2
    exit 1
fi

echo "Installing Debian packages: ${packages[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
