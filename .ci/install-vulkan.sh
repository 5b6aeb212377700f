#!/usr/bin/env bash
# Installs a software Vulkan driver (Mesa 25 lavapipe from bookworm-backports) when the machine has no Vulkan loader.
# Dawn refuses Debian 12's own Mesa 22 lavapipe, hence backports. Skipped where libvulkan is already present (GPU hosts).
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' && [ -n "$(ls /usr/share/vulkan/icd.d/ 2>/dev/null)" ]; then
  echo "vulkan: loader and a driver already present"; exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
list=/etc/apt/sources.list.d/vdit-backports.list
if [ ! -f "$list" ]; then
  # the mirror the machine already uses for Debian's main suite (deb822 "URIs:" or one-line "deb" form)
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -vE '^\s*#' | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)
  echo "deb ${mirror:-http://deb.debian.org/debian} bookworm-backports main" | $SUDO tee "$list" >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "vulkan: installed $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) lavapipe"
