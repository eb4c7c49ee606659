#!/usr/bin/env bash
# `make lab`: eleven Debian hosts on this machine, provisioned by ansible/site.yml.
#
# Builds the base once (var/lab/base), makes the hosts (lab/hosts.sh), runs site.yml with
# inventory/lab, then prints and writes var/lab/lab.env (LAB_URL, LAB_CA, LAB_PROMETHEUS).
# A failed run leaves its hosts for inspection; `make lab-down` removes them in any state.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source lab/lab.conf

lab=$PWD/var/lab
venv_bin=${LAB_VENV_BIN:-$PWD/.venv/bin}
[[ $(id -u) == 0 ]] || { echo "lab: needs root (namespaces, mounts, chroot)" >&2; exit 1; }

started=$(date +%s)
mkdir -p "$lab"
bash lab/base.sh "$lab/base"
# Leftovers of an earlier lab would collide with the new one.
bash lab/hosts.sh destroy "$lab" >/dev/null
bash lab/hosts.sh create "$lab"

export PATH=$venv_bin:$PATH
export ANSIBLE_CONFIG=$PWD/ansible/ansible.cfg
ansible-playbook -i inventory/lab ansible/site.yml \
    --vault-password-file lab/vault-password ${LAB_ANSIBLE_ARGS:-}

address_of() {
    local entry
    for entry in "${LAB_HOSTS[@]}"; do
        if [[ ${entry%%:*} == "$1" ]]; then echo "$LAB_SUBNET_PREFIX.${entry#*:}"; fi
    done
}
{
    echo "LAB_URL=https://$(address_of lb)"
    echo "LAB_CA=$lab/ca/ca.crt"
    echo "LAB_PROMETHEUS=http://$(address_of monitor):9090"
} >"$lab/lab.env"
echo "lab: ready in $(( $(date +%s) - started )) s"
cat "$lab/lab.env"
