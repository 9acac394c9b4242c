#!/usr/bin/env bash
# What `make test` needs besides Go, git, make, gcc and kubectl: the Debian
# packages its tests run for real. `make test` and CI (.ci/run, through
# `make test`) both call this one script, so a new machine and CI install
# the same things the same way.
#
#   strace             kills ssm at exact system calls (the crash tests)
#   redis-server       Argo CD's application-controller keeps its cache there
#   gnupg              gpg verifies the commits ssm signs with OpenPGP
#   openssh-client     ssh-keygen signs and verifies SSH-signed commits, and
#                      the SSH git server's keys
#   podman, runc       build and run ssm's container image (TestImage)
#   zsh, fish          load the completion scripts of ssm completion
#
# With everything present it prints nothing. Otherwise it installs the
# missing packages with apt-get: at once where nobody can be asked (no
# terminal, or CI=true, or SSM_INSTALL_DEPS=1), after asking once on a
# terminal. Anything it cannot install is an error naming the command.
set -euo pipefail

packages=(strace redis-server gnupg openssh-client podman runc zsh fish)
tools=(go git make gcc kubectl)

missing_tools=()
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || missing_tools+=("$t")
done
if ((${#missing_tools[@]})); then
	echo "hack/deps.sh: ${missing_tools[*]} not found: install Go 1.26, git, make, gcc and kubectl first (README.md)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "hack/deps.sh: the tests need ${missing[*]} (Debian package names); install them with your package manager" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) != 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "hack/deps.sh: the tests need ${missing[*]}; as root: apt-get update && apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
((${#sudo[@]} == 0)) || cmd="sudo $cmd"
if [[ -t 0 && ${CI:-} != true && ${SSM_INSTALL_DEPS:-} != 1 ]]; then
	read -r -p "The tests need ${missing[*]}. Run \`$cmd\` now? [Y/n] " answer
	case "$answer" in
	"" | y | Y | yes) ;;
	*)
		echo "hack/deps.sh: not installed; run \`$cmd\` yourself, then make test" >&2
		exit 1
		;;
	esac
fi
echo "hack/deps.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
